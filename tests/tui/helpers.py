"""Shared helpers for the TUI tests: fixture paths, replay apps and waiting on the app."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
CPU_REC = DATA / "cpu_pipeline.raytop"
GPU_REC = DATA / "gpu_pipeline.raytop"


def ensure_fixtures() -> None:
    """The recordings are committed; rebuild them if a checkout lacks them (e.g. *.raytop ignored)."""
    if not (CPU_REC.exists() and GPU_REC.exists()):
        import runpy

        runpy.run_path(str(DATA / "make_fixtures.py"), run_name="__main__")


def replay_app(path: Path = CPU_REC):
    from raytop.recording import RecordingReader
    from raytop.tui.app import ReplayApp

    ensure_fixtures()
    return ReplayApp(RecordingReader(path), title=f"replay {path.name}")


def sync(coro_fn):
    """Run an async test with asyncio.run (no async pytest plugin is installed)."""
    import functools

    @functools.wraps(coro_fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(coro_fn(*args, **kwargs))

    return wrapper


async def wait_for(pilot, condition, timeout: float = 20.0) -> None:
    """Poll ``condition()`` while letting the app run; fail with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)
        await asyncio.sleep(0)


async def wait_index(pilot, app, index: int) -> None:
    await wait_for(pilot, lambda: app.frame is not None and app.frame.replay is not None
                   and app.frame.replay.index == index)
    await pilot.pause()
