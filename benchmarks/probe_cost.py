"""What the probe costs the job: time spent in ``RaytopProbe.on_execution_step`` per executor step.

Runs a real pipeline of 14 physical operators (a read and 12 maps that cannot fuse, because their
``num_cpus`` alternate) on a local Ray, with the probe timed on the executor's scheduling thread
and a raytop ``ProbeSource`` in another process (as in real use) receiving the reports. Once with
``RAYTOP_INTERVAL=0`` (a full read and send at every step: the cost of one report) and once with
the default interval (what a job pays).

    python benchmarks/probe_cost.py [--rows 20000] [--blocks 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")

import ray  # noqa: E402

from raytop import probe as probe_mod  # noqa: E402
from raytop.channel import Sender  # noqa: E402

# The receiving raytop: reads like the collector does (every second) until stdin closes, then
# prints what it knows of each dataset.
_LISTENER = """
import json, select, sys, time
from raytop.sources.probe_source import ProbeSource
src = ProbeSource(directory=sys.argv[1], pids=[int(sys.argv[2])])
print("ready", flush=True)
datasets, received = {}, 0
while not select.select([sys.stdin], [], [], 1.0)[0]:
    try:
        part = src.read()
    except Exception:
        continue
    for d in part.datasets:
        datasets[d.dataset_id] = {"state": d.state, "rows_out": d.rows_out, "ops": len(d.operators)}
time.sleep(0.5)
try:
    for d in src.read().datasets:
        datasets[d.dataset_id] = {"state": d.state, "rows_out": d.rows_out, "ops": len(d.operators)}
except Exception:
    pass
src.close()
print(json.dumps(datasets), flush=True)
"""

NUM_MAPS = 12


class TimedProbe(probe_mod.RaytopProbe):
    step_ns: list = []
    start_ns: list = []

    def before_execution_starts(self, executor):
        t0 = time.perf_counter_ns()
        super().before_execution_starts(executor)
        TimedProbe.start_ns.append(time.perf_counter_ns() - t0)

    def on_execution_step(self, executor):
        t0 = time.perf_counter_ns()
        super().on_execution_step(executor)
        TimedProbe.step_ns.append(time.perf_counter_ns() - t0)


def _udf(batch):
    time.sleep(0.002)
    return batch


def _pipeline(rows: int, blocks: int):
    ds = ray.data.range(rows, override_num_blocks=blocks)
    for i in range(NUM_MAPS):
        ds = ds.map_batches(_udf, num_cpus=0.5 if i % 2 else 0.25)
    return ds


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _run(rows: int, blocks: int, interval: str):
    os.environ["RAYTOP_INTERVAL"] = interval
    TimedProbe.step_ns, TimedProbe.start_ns = [], []
    t0 = time.perf_counter()
    n = len(_pipeline(rows, blocks).take_all())
    wall = time.perf_counter() - t0
    return {"steps": list(TimedProbe.step_ns), "start": list(TimedProbe.start_ns), "wall": wall,
            "rows": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--blocks", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if args.rows <= 0 or args.blocks <= 0:
        print("probe_cost: --rows and --blocks must be positive", file=sys.stderr)
        return 2

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=300 * 1024 * 1024)
    parent = Path(tempfile.mkdtemp(prefix="rtb"))
    directory = parent / "ch"
    root = str(Path(__file__).resolve().parent.parent)
    listener = subprocess.Popen(
        [sys.executable, "-c", _LISTENER, str(directory), str(os.getpid())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")})
    listener.stdout.readline()  # "ready": its socket is bound
    probe_mod.set_sender(Sender(directory))
    ctx = ray.data.DataContext.get_current()
    ctx.custom_execution_callback_classes = [TimedProbe]
    try:
        results = {}
        for label, interval in (("interval 0 (report every step)", "0"),
                                ("interval 1.0 s (default)", "1.0")):
            results[label] = _run(args.rows, args.blocks, interval)
    finally:
        out, _ = listener.communicate("", timeout=60)
        shutil.rmtree(parent, ignore_errors=True)
        ray.shutdown()
    received = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}

    ops = max((d["ops"] for d in received.values()), default=None)
    print(f"probe cost per executor step, Ray {ray.__version__}, "
          f"{ops} operators, {args.rows} rows in {args.blocks} blocks")
    print(f"{'configuration':34} {'steps':>7} {'median ms':>10} {'p99 ms':>8} {'max ms':>8} "
          f"{'mean ms':>8} {'job s':>6}")
    for label, r in results.items():
        ms = [v / 1e6 for v in r["steps"]]
        print(f"{label:34} {len(ms):7d} {statistics.median(ms):10.4f} {_pct(ms, 0.99):8.3f} "
              f"{max(ms):8.3f} {statistics.fmean(ms):8.4f} {r['wall']:6.1f}")
    starts = [v / 1e6 for r in results.values() for v in r["start"]]
    print(f"{'before_execution_starts (plan)':34} {len(starts):7d} {statistics.median(starts):10.4f}")
    done = [d for d in received.values() if d["state"] == "FINISHED" and d["rows_out"] == args.rows]
    if args.json is not None:
        args.json.write_text(json.dumps({
            "operators": ops, "rows": args.rows, "blocks": args.blocks,
            "complete": len(done) == len(results),
            "configurations": {label: {
                "steps": len(r["steps"]), "median_ms": statistics.median(r["steps"]) / 1e6,
                "p99_ms": _pct(r["steps"], 0.99) / 1e6, "max_ms": max(r["steps"]) / 1e6,
                "job_s": r["wall"]} for label, r in results.items()}}))
    print(f"listener process received {len(received)} datasets, {len(done)} finished with all rows")
    if len(done) != len(results) or any(r["rows"] != args.rows for r in results.values()):
        print("probe_cost: the reports did not arrive complete", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
