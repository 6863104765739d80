"""Report time and size for a one-hour, 1 Hz recording.

Targets (docs/report.md): each report under 10 s, the HTML under 5 MB. The recording is synthetic,
shaped by recording_size.PipelineSim, written with the real RecordingWriter and read back by the
real report code. ``--shape heavy``: 3 datasets x 8 operators (PipelineSim as is); ``--shape demo``:
one dataset of 4 operators, like demos/batch_inference.py. Besides wall time (which other load on
the machine inflates) it prints the CPU time of each phase: reading, analysis (advisor), report.

    python benchmarks/report_speed.py [--seconds 3600] [--shape demo|heavy] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import recording_size  # noqa: E402

from raytop.recording import RecordingWriter  # noqa: E402
from raytop.report import write_report  # noqa: E402
from raytop.report.api import files_dir_for  # noqa: E402
from raytop.report.build import build_report  # noqa: E402
from raytop.report.history import load_history  # noqa: E402
from raytop.report.html import render_html  # noqa: E402


def _timed(label, fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    print(f"  {label:<38} wall {time.perf_counter() - wall:6.2f} s   cpu {time.process_time() - cpu:6.2f} s")
    return result


def _simulator(shape: str):
    if shape == "demo":
        ops = recording_size._OPS
        recording_size._OPS = [ops[0], ops[2], ops[3], ops[-1]]
        sim = recording_size.PipelineSim()
        sim.plans, sim.finished = sim.plans[-1:], []
        return sim
    return recording_size.PipelineSim()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--shape", choices=("demo", "heavy"), default="heavy")
    ap.add_argument("--keep", type=Path, default=None, help="keep recording and reports in DIR")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    folder = args.keep or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    rec = folder / "bench.raytop"
    rec.unlink(missing_ok=True)
    sim = _simulator(args.shape)
    w = RecordingWriter(rec, meta={"command": ["raytop", "run", "demos/batch_inference.py"],
                                   "interval": 1.0})
    for step in range(args.seconds):
        w.snapshot(sim.snapshot(step))
    w.close(exit_code=0)
    ops = sum(len(d.operators) for d in sim.snapshot(args.seconds).datasets)
    print(f"recording ({args.shape}): {args.seconds} snapshots, {ops} operators,"
          f" {rec.stat().st_size / 1e6:.2f} MB")
    print("phases of an HTML report:")
    from raytop.analysis import report_data
    from raytop.report.series import build_charts
    from raytop.report.summary import aggregate

    history = _timed("read recording", lambda: load_history(rec))
    _timed("analysis (advisor, plan, bottleneck)", lambda: report_data(history.snapshots))
    _timed("summary and operator aggregates", lambda: aggregate(history))
    _timed("chart series", lambda: build_charts(history))
    report = build_report(history)
    _timed("HTML with SVG charts", lambda: render_html(report))
    print("end to end (write_report):")

    results = {}
    for fmt in ("html", "md", "json"):
        out = folder / f"bench.{fmt}"
        t, cpu = time.perf_counter(), time.process_time()
        write_report(rec, out, fmt, force=True)
        results[fmt] = (time.perf_counter() - t, out.stat().st_size)
        cpu = time.process_time() - cpu
        extra = ""
        if fmt == "md":
            pngs = sum(p.stat().st_size for p in files_dir_for(out).glob("*.png"))
            extra = f" + {pngs / 1e6:.2f} MB of PNG charts"
        print(f"{fmt:>4}: wall {results[fmt][0]:5.2f} s, cpu {cpu:5.2f} s,"
              f" {results[fmt][1] / 1e6:.2f} MB{extra}")
    t, cpu = time.perf_counter(), time.process_time()
    write_report(rec, folder / "bench-cmp.html", "html", baseline=rec, force=True)
    print(f"html with --baseline (two recordings): wall {time.perf_counter() - t:.2f} s,"
          f" cpu {time.process_time() - cpu:.2f} s")
    print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
          f" on {os.cpu_count()} CPUs (wall times grow with it)")
    ok = all(sec < 10 for sec, _ in results.values()) and results["html"][1] < 5e6
    print("targets (< 10 s each, HTML < 5 MB):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
