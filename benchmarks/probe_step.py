"""The probe's cost per executor step, by running probe_cost.py in its own process (it starts
its own local Ray) and reading the figures it writes."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, Measurement, run_timed, skipped, tail

GROUP = "probe"
DEFAULT = "interval 1.0 s (default)"
EVERY_STEP = "interval 0 (report every step)"


def run(quick: bool) -> list[Measurement]:
    rows, blocks = (2000, 30) if quick else (20_000, 200)
    with tempfile.TemporaryDirectory(prefix="raytop-bench-") as tmp:
        out = Path(tmp) / "probe.json"
        res = run_timed([sys.executable, str(ROOT / "benchmarks" / "probe_cost.py"), "--rows",
                         str(rows), "--blocks", str(blocks), "--json", str(out)], timeout=400)
        data = json.loads(out.read_text()) if out.exists() else None
    if data is None:
        why = f"probe_cost.py failed (exit {res.returncode}): {tail(res.stderr, 2)}"
        return [skipped("probe_step_median_ms", GROUP, "probe per executor step, median", "ms", 0.1, why),
                skipped("probe_step_p99_ms", GROUP, "probe per executor step, p99", "ms", 0.5, why)]
    cfg = data["configurations"]
    ops = data["operators"]
    detail = {"operators": ops, "rows": rows, "blocks": blocks, "complete": data["complete"],
              "configurations": cfg}
    d, e = cfg[DEFAULT], cfg[EVERY_STEP]
    note = f"{ops} operators, {d['steps']} steps"
    return [
        Measurement("probe_step_median_ms", GROUP, "probe per executor step, default interval, median",
                    "ms", round(d["median_ms"], 4), 0.1, note=note, detail=detail),
        Measurement("probe_step_p99_ms", GROUP, "probe per executor step, default interval, p99",
                    "ms", round(d["p99_ms"], 4), 0.5, note=note, detail=detail),
        Measurement("probe_report_median_ms", GROUP, "one full probe report (interval 0), median",
                    "ms", round(e["median_ms"], 4), None, compare="stated",
                    note=f"p99 {e['p99_ms']:.3f} ms; paid once per interval", detail=detail),
    ]
