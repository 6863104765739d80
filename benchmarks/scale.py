"""Per-snapshot cost at cluster scale: the collector's merge, the advisor, the TUI update.

The snapshots come from ``synthetic.ScaleSim``. The advisor is measured in steady state (its rule
window full); the TUI is the real ``RaytopApp`` under Textual's headless driver, and one update is
``apply_frame`` plus the wait until the app is idle again (layout and render of every widget).
Frames are built beforehand (as the collector thread does), so the TUI figure is UI-thread time.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.common import Measurement, median, percentile
from benchmarks.synthetic import FULL, SOURCES, T0, Scale, ScaleSim
from raytop.merge import merge_parts

GROUP = "scale"


def _detail(samples_ms: list[float], scale: Scale) -> dict:
    return {"samples": len(samples_ms), "p90_ms": round(percentile(samples_ms, 0.9), 3),
            "max_ms": round(max(samples_ms), 3), "scale": scale.describe()}


def measure_merge(sim: ScaleSim, n: int) -> Measurement:
    ms = []
    for step in range(n):
        parts = sim.parts(step)
        t0 = time.perf_counter()
        merge_parts(T0 + step, parts, dict(SOURCES))
        ms.append((time.perf_counter() - t0) * 1e3)
    return Measurement("scale_merge_ms", GROUP, "collector merge per snapshot (median)", "ms",
                       round(median(ms), 3), 20.0, detail=_detail(ms, sim.scale))


def measure_advisor(snaps, n: int) -> Measurement:
    from raytop.analysis import thresholds as th
    from raytop.analysis.advisor import Advisor

    adv = Advisor()
    warm = int(th.RULE_WINDOW_S) + 2  # the rule window is full from here on
    ms, active = [], 0
    for i, snap in enumerate(snaps[:warm + n]):
        t0 = time.perf_counter()
        active = len(adv.update(snap))
        if i >= warm:
            ms.append((time.perf_counter() - t0) * 1e3)
    d = _detail(ms, FULL)
    d["active_suggestions"] = active
    d["window_snapshots"] = warm
    return Measurement("scale_advisor_ms", GROUP, "advisor evaluation per snapshot (median)", "ms",
                       round(median(ms), 3), 5.0, detail=d)  # issue 16


async def _tui_updates(frames, size, budget_s: float) -> tuple[list[float], list[float]]:
    """(CPU ms, wall ms) per update. CPU is the process's (every thread): the wall time also
    holds the event loop's idle waits between the messages of one update."""
    from raytop.tui.app import RaytopApp

    app = RaytopApp(title="raytop bench")
    cpu_ms: list[float] = []
    wall_ms: list[float] = []
    started = time.perf_counter()
    async with app.run_test(size=size, headless=True) as pilot:
        await pilot.pause()
        for i, frame in enumerate(frames):
            t0, c0 = time.perf_counter(), time.process_time()
            app.apply_frame(frame)
            await pilot.pause()
            if i:  # the first one creates every row
                cpu_ms.append((time.process_time() - c0) * 1e3)
                wall_ms.append((time.perf_counter() - t0) * 1e3)
            if len(cpu_ms) >= 2 and time.perf_counter() - started > budget_s:
                break  # a very slow update: two samples tell enough
    return cpu_ms, wall_ms


def measure_tui(snaps, n: int, history: int, budget_s: float, size=(200, 60)) -> Measurement:
    """``history`` snapshots went through the frame builder already (the live view after that
    many seconds at 1 Hz: its history and its advisor's state), so history-wide views
    (sparklines) and the advice cost what they cost in a running session."""
    from raytop.tui.frame import FrameBuilder

    builder = FrameBuilder()
    builder.reset(snaps[:history])
    frames = [builder.frame(s) for s in snaps[history:history + n + 1]]
    ms, wall = asyncio.run(_tui_updates(frames, size, budget_s))
    d = _detail(ms, FULL)
    d.update(terminal=f"{size[0]}x{size[1]}", history_snapshots=len(frames[-1].history),
             wall_median_ms=round(median(wall), 3))
    return Measurement("scale_tui_ms", GROUP,
                       "TUI update per snapshot, CPU, Textual headless (median)",
                       "ms", round(median(ms), 3), 25.0, detail=d)


def run(quick: bool) -> list[Measurement]:
    n = 5 if quick else 30
    sim = ScaleSim(FULL)
    out = [measure_merge(sim, n)]
    history = 10 if quick else 60
    sim = ScaleSim(FULL)
    snaps = [sim.snapshot(i) for i in range(max(17 + n, history + 6))]
    out.append(measure_advisor(snaps, n))
    out.append(measure_tui(snaps, 2 if quick else 5, history, budget_s=5 if quick else 40))
    return out
