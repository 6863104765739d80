"""What `raytop attach --inject` costs and how long it takes, measured on a real driver.

A target driver (its own local Ray, 8 physical operators, executions back to back) times every
``on_execution_step`` call of raytop's probe in it:

1. dormant: the probe registered as the environment variable does, nobody listening;
2. injected: raytop loads the probe with gdb (`attach.inject.inject`, as `--inject` does) and
   listens; the time to the agent's hello and to the first report with the plan are taken here;
3. quiet: raytop left; the injected probe silenced itself.

It also times the one line the always-on hook (`raytop probe enable`) runs at interpreter start.

    python benchmarks/attach_cost.py [--reps 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raytop.attach.always_on import pth_line  # noqa: E402
from raytop.attach.inject import inject  # noqa: E402
from raytop.sources.probe_source import ProbeSource  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# The target: prints "phase <name>" when a phase starts, "quiet" when the agent thread ended, and
# finally one JSON line with the per-step durations of each phase.
_TARGET = r"""
import json, os, sys, threading, time
import ray
from ray.data import DataContext
from raytop.probe import RaytopProbe
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
phase = ["dormant"]
durations = {"dormant": [], "injected": [], "quiet": []}
stop = threading.Event()

def timed(cb):
    inner = cb.on_execution_step
    def step(executor):
        t0 = time.perf_counter()
        inner(executor)
        durations[phase[0]].append(time.perf_counter() - t0)
    cb.on_execution_step = step
    cb._raytop_timed = True

def watch():
    seen_agent = False
    while not stop.is_set():
        for t in threading.enumerate():
            if type(t).__name__ == "StreamingExecutor":
                for cb in list(getattr(t, "_callbacks", [])):
                    if isinstance(cb, RaytopProbe) and not getattr(cb, "_raytop_timed", False):
                        timed(cb)
        agent = any(t.name == "raytop-agent" for t in threading.enumerate())
        if agent and not seen_agent:
            seen_agent = True
            phase[0] = "injected"
            print("phase injected", flush=True)
        if seen_agent and not agent:
            seen_agent = False
            phase[0] = "quiet"
            print("quiet", flush=True)
        time.sleep(0.05)

def work(batch):
    time.sleep(0.01)
    return batch

def execution():
    ds = ray.data.range(4000, override_num_blocks=80)
    for i in range(6):  # alternating num_cpus keeps the maps apart: 8 physical operators
        ds = ds.map_batches(work, num_cpus=0.5 if i % 2 else 1)
    ds.materialize()

threading.Thread(target=watch, daemon=True).start()
ctx = DataContext.get_current()
ctx.custom_execution_callback_classes = [RaytopProbe]  # the environment-variable way
dormant_until = time.monotonic() + float(sys.argv[2])
while time.monotonic() < dormant_until:
    execution()
ctx.custom_execution_callback_classes = []  # from here on only an injected probe
print("ready", flush=True)
while not os.path.exists(sys.argv[1]):
    execution()
stop.set()
print(json.dumps(durations), flush=True)
"""


def _stats(values_s) -> dict:
    ms = sorted(v * 1000 for v in values_s)
    if not ms:
        return {"steps": 0, "median_ms": None, "p99_ms": None}
    return {"steps": len(ms), "median_ms": statistics.median(ms),
            "p99_ms": ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]}


def _read_until(proc, word: str) -> None:
    for line in proc.stdout:
        if line.strip() == word:
            return
    raise RuntimeError(f"the target ended before saying {word!r}")


def _hook_line_us(tmp: Path) -> float:
    line = pth_line(ROOT / "raytop")
    env = {"RAY_DATA_EXECUTION_CALLBACKS": ""}
    code = compile(line.replace("os.environ", "env").replace("import os; ", ""), "<pth>", "exec")
    runs = 20000
    seconds = timeit.timeit(lambda: (env.clear(), exec(code, {"env": env, "os": os})),
                            number=runs)
    return seconds / runs * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dormant-s", type=float, default=15.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="raytop-attach-bench-") as tmp:
        tmp_path = Path(tmp)
        channel, stop = tmp_path / "ch", tmp_path / "stop"
        env = dict(os.environ, RAYTOP_CHANNEL_DIR=str(channel), RAY_ADDRESS="local",
                   RAY_DATA_DISABLE_PROGRESS_BARS="1",
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        target = subprocess.Popen([sys.executable, "-c", _TARGET, str(stop), str(args.dormant_s)],
                                  env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        hello_s, full_s = [], []
        try:
            _read_until(target, "ready")
            for _ in range(args.reps):
                listener = ProbeSource(directory=channel)
                started = time.monotonic()
                outcome = inject(target.pid, listener.channel_for, listener.wait_for_hello)
                hello_s.append(outcome.seconds)
                if listener.wait_for_dataset(target.pid, 30):
                    full_s.append(time.monotonic() - started)
                _read_until(target, "phase injected")
                listener.wait_for_dataset(target.pid, 10)  # let it report a while
                _report_for(listener, 10.0)
                listener.close()
                _read_until(target, "quiet")
            stop.touch()
            durations = json.loads(target.stdout.readline() or "{}")
        finally:
            stop.touch()
            try:
                target.wait(120)
            except subprocess.TimeoutExpired:
                target.kill()
        result = {
            "reps": args.reps,
            "inject_to_hello_s": hello_s,
            "inject_to_first_full_report_s": full_s,
            "phases": {name: _stats(values) for name, values in durations.items()},
            "always_on_hook_line_us": _hook_line_us(tmp_path),
        }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


def _report_for(listener: ProbeSource, seconds: float) -> None:
    """Read like the collector does, once a second, for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            listener.read()
        except Exception:  # noqa: BLE001 - absent until the first report
            pass
        time.sleep(1.0)


if __name__ == "__main__":
    sys.exit(main())
