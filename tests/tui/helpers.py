"""Shared helpers for the TUI tests: fixture paths, replay apps and waiting on the app.

The tests wait on the app's state (a frame applied, a screen pushed, a message handled), never on
wall time: ``wait_for`` lets the app handle what is pending until a condition holds. A test that
never gets there is stopped by pytest-timeout.
"""

from __future__ import annotations

import asyncio
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


async def wait_for(pilot, condition) -> None:
    """Let the app run until ``condition()`` holds, then until what it shows has been handled.

    Each round is a ``pilot.pause()``: the app and the screen's widgets handle every message
    pending (frames posted by the replay or collector thread, keys, screen pushes)."""
    while not condition():
        await pilot.pause()
    await pilot.pause()


async def wait_index(pilot, app, index: int) -> None:
    """Until the replay's frame at ``index`` is the app's frame (and on screen)."""
    await wait_for(pilot, lambda: app.frame.replay is not None and app.frame.replay.index == index)


def row_keys(table) -> list:
    """The operators table's rows as the table orders them, by key (op ids)."""
    return list(table.keys)


def text_of(widget) -> str:
    """What a widget shows, as plain text."""
    return str(widget.render())


def write_recording(path: Path, snapshots) -> Path:
    """A recording of ``snapshots`` at ``path`` (built from the committed ones in a test)."""
    from raytop.recording import RecordingWriter

    with RecordingWriter(path, meta={"command": ["raytop", "test"]}) as writer:
        for snap in snapshots:
            writer.snapshot(snap)
    return path


def committed_snapshots(path: Path = CPU_REC) -> list:
    """Every snapshot of a committed recording."""
    from raytop.recording import RecordingReader

    ensure_fixtures()
    with RecordingReader(path) as reader:
        return [reader.snapshot(i) for i in range(len(reader))]
