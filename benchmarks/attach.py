"""`raytop attach --inject`: time to load the probe into a live driver and to the first full
report, and what the probe costs the driver per executor step when dormant, injected and
silenced again (runs attach_cost.py in its own process, which starts its own local Ray)."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, Measurement, run_timed, skipped, tail

GROUP = "attach"


def _phase(data: dict, name: str, what: str, target_median: float) -> list[Measurement]:
    p = data["phases"][name]
    note = f"{p['steps']} steps, p99 {p['p99_ms']:.3f} ms" if p["median_ms"] is not None else ""
    return [Measurement(f"probe_step_{name}_median_ms", GROUP,
                        f"probe per executor step, {what}, median", "ms",
                        None if p["median_ms"] is None else round(p["median_ms"], 4),
                        target_median, note=note, detail=p,
                        skipped=None if p["median_ms"] is not None else "no step was timed")]


def run(quick: bool) -> list[Measurement]:
    if shutil.which("gdb") is None:
        return [skipped("inject_first_full_s", GROUP, "--inject to the first full report", "s",
                        5.0, "gdb is not installed")]
    reps, dormant = (1, 5) if quick else (3, 15)
    with tempfile.TemporaryDirectory(prefix="raytop-bench-") as tmp:
        out = Path(tmp) / "attach.json"
        res = run_timed([sys.executable, str(ROOT / "benchmarks" / "attach_cost.py"), "--reps",
                         str(reps), "--dormant-s", str(dormant), "--json", str(out)], timeout=600)
        data = json.loads(out.read_text()) if out.exists() else None
    if data is None:
        return [skipped("inject_first_full_s", GROUP, "--inject to the first full report", "s",
                        5.0, f"attach_cost.py failed (exit {res.returncode}): {tail(res.stderr, 2)}")]
    hello, full = data["inject_to_hello_s"], data["inject_to_first_full_report_s"]
    reps_note = f"{len(full)} injections into a driver running 8 operators"
    return [
        Measurement("inject_hello_s", GROUP, "--inject to the probe's hello (gdb), median", "s",
                    round(statistics.median(hello), 2), None, compare="stated",
                    note=f"each: {', '.join(f'{x:.2f}' for x in hello)}", detail=data),
        Measurement("inject_first_full_s", GROUP, "--inject to the first full report, median", "s",
                    round(statistics.median(full), 2) if full else None, 5.0, note=reps_note,
                    skipped=None if full else "no report arrived"),
        *_phase(data, "dormant", "dormant (nobody listening)", 0.01),
        *_phase(data, "injected", "injected, raytop listening", 0.1),
        *_phase(data, "quiet", "injected, after raytop left", 0.01),
        Measurement("always_on_hook_us", GROUP, "`raytop probe enable` line at interpreter start",
                    "µs", round(data["always_on_hook_line_us"], 1), 100.0),
    ]
