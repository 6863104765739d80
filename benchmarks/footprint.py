"""raytop's own footprint: CPU and memory of `raytop attach` (the real TUI, in a pseudo-terminal)
watching a cluster at 1 Hz, and memory growth over a simulated hour.

CPU and RSS count raytop's whole process tree: the TUI process and its children (the Ray bridge
process, which holds raytop's ``ray.init``, and multiprocessing's resource tracker). CPU is
measured after a settling period, so startup and connecting are not averaged in.

The day: a fresh process runs the live app (Textual headless) over a stand-in collector that
feeds 86,400 synthetic snapshots (recording_size.PipelineSim, 1 s apart: 24 simulated hours) as
fast as it can, through the same sinks as a live session (frame builder with the advisor,
recording writer). RSS after 24 hours vs after the first hour (3,600 snapshots); ``--quick``: 600
snapshots vs 150.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
import threading
import time

import psutil

from benchmarks.cluster import Cluster
from benchmarks.common import Measurement, child_env, median, skipped, tail

GROUP = "footprint"
MB = 1e6
RSS_TARGET_MB = 150.0  # the whole process tree while attached (issue 16)


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu_s(procs: list[psutil.Process], seen: dict[int, float]) -> None:
    for p in procs:
        try:
            t = p.cpu_times()
            seen[p.pid] = t.user + t.system
        except psutil.Error:
            pass


def attached(cluster: Cluster, seconds: float, settle: float) -> list[Measurement]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = child_env({"TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"})
    proc = subprocess.Popen([sys.executable, "-m", "raytop", "attach", "--address", cluster.address,
                             "--interval", "1"], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True)
    os.close(slave)

    def drain() -> None:  # a terminal that nobody reads would block the app
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    root = psutil.Process(proc.pid)
    start_cpu: dict[int, float] = {}
    end_cpu: dict[int, float] = {}
    rss_tree, rss_main = [], []
    t_settled = time.monotonic() + settle
    t_end = t_settled + seconds
    settled = False
    while time.monotonic() < t_end and proc.poll() is None:
        procs = _tree(root)
        if not settled and time.monotonic() >= t_settled:
            _cpu_s(procs, start_cpu)
            wall0, settled = time.monotonic(), True
        if settled:
            _cpu_s(procs, end_cpu)
            rss = {}
            for p in procs:
                try:
                    rss[p.pid] = p.memory_info().rss
                except psutil.Error:
                    pass
            rss_tree.append(sum(rss.values()))
            rss_main.append(rss.get(proc.pid, 0))
        time.sleep(1.0)
    wall = time.monotonic() - wall0 if settled else 0.0
    alive = proc.poll() is None
    try:
        os.write(master, b"q")
        proc.wait(timeout=15)
    except Exception:  # noqa: BLE001
        proc.kill()
        proc.wait()
    os.close(master)
    label_cpu = "raytop attach CPU at 1 Hz, % of one core"
    label_rss = "raytop attach RSS, whole process tree"
    if not alive or not rss_tree or wall <= 0:
        why = f"raytop attach exited early (code {proc.returncode})"
        return [skipped("footprint_cpu_percent", GROUP, label_cpu, "%", 2.0, why),
                skipped("footprint_rss_mb", GROUP, label_rss, "MB", RSS_TARGET_MB, why)]
    cpu = sum(end_cpu[p] - start_cpu.get(p, 0.0) for p in end_cpu) / wall * 100
    main_cpu = (end_cpu.get(proc.pid, 0.0) - start_cpu.get(proc.pid, 0.0)) / wall * 100
    return [
        Measurement("footprint_cpu_percent", GROUP, label_cpu, "%", round(cpu, 2), 2.0,
                    note=f"TUI process alone {main_cpu:.2f} %; over {wall:.0f} s after {settle:.0f} s",
                    detail={"seconds": round(wall, 1), "tui_process_percent": round(main_cpu, 2),
                            "processes": len(end_cpu)}),
        Measurement("footprint_rss_mb", GROUP, label_rss, "MB", round(max(rss_tree) / MB, 1), RSS_TARGET_MB,
                    note=f"TUI process alone {max(rss_main) / MB:.0f} MB (max over the run)",
                    detail={"tui_process_mb": round(max(rss_main) / MB, 1),
                            "tree_mb_median": round(median(rss_tree) / MB, 1)}),
    ]


_SOAK = r"""
import gc, json, os, sys, tempfile, threading
import psutil
from benchmarks.recording_size import PipelineSim
from raytop.recording import RecordingWriter
from raytop.tui.app import LiveApp

N, EARLY = int(sys.argv[1]), int(sys.argv[2])
rss = {}

class Feeder:
    def __init__(self):
        self.sinks = []
    def add_sink(self, sink):
        self.sinks.append(sink)
    def start(self):
        threading.Thread(target=self.feed, daemon=True).start()
    def feed(self):
        sim = PipelineSim()
        for step in range(N):
            snap = sim.snapshot(step)
            for sink in self.sinks:
                sink.snapshot(snap)
            if step + 1 == EARLY or (step + 1) % (EARLY * 3) == 0 or step + 1 == N:
                gc.collect()
                rss[step + 1] = psutil.Process().memory_info().rss
        app.call_from_thread(app.exit)

feeder = Feeder()
tmp = tempfile.mkdtemp()
writer = RecordingWriter(os.path.join(tmp, "soak.raytop"), meta={"command": ["soak"], "interval": 1.0})
feeder.add_sink(writer)
app = LiveApp(feeder, title="soak", address=None)
app.run(headless=True, size=(160, 50))
writer.close()
print(json.dumps(rss))
"""


def _hours(snapshots: int) -> str:
    return f"{snapshots / 3600:g} h" if snapshots >= 3600 else f"{snapshots / 60:g} min"


def soak(snapshots: int, early: int) -> Measurement:
    label = f"RSS after {_hours(snapshots)} simulated vs after {_hours(early)} (1 Hz)"
    p = subprocess.run([sys.executable, "-c", _SOAK, str(snapshots), str(early)], capture_output=True,
                       text=True, timeout=7200, env=child_env())
    try:
        rss = json.loads(p.stdout.strip().splitlines()[-1])
        first, late = rss[str(early)], rss[str(snapshots)]
    except Exception:  # noqa: BLE001
        return skipped("footprint_rss_growth", GROUP, label, "x", 1.05,
                       f"soak process failed (exit {p.returncode}): {tail(p.stderr, 2)}")
    steps = ", ".join(f"{int(k):,}: {v / MB:.0f}" for k, v in sorted(rss.items(), key=lambda kv: int(kv[0])))
    return Measurement("footprint_rss_growth", GROUP, label, "x", round(late / first, 3), 1.05,
                       note=f"RSS MB after N snapshots {steps} (TUI, advisor, recording writer)",
                       detail={"rss_after_early_mb": round(first / MB, 1), "early": early,
                               "rss_after_all_mb": round(late / MB, 1), "snapshots": snapshots,
                               "rss_mb_by_snapshot": {k: round(v / MB, 1) for k, v in rss.items()}})


def run(quick: bool, cluster: Cluster | None) -> list[Measurement]:
    if cluster is None:
        why = "no Ray cluster could be started"
        out = [skipped("footprint_cpu_percent", GROUP, "raytop attach CPU at 1 Hz, % of one core", "%",
                       2.0, why),
               skipped("footprint_rss_mb", GROUP, "raytop attach RSS, whole process tree", "MB",
                       RSS_TARGET_MB, why)]
    else:
        out = attached(cluster, seconds=8 if quick else 45, settle=5 if quick else 10)
    out.append(soak(600, 150) if quick else soak(86_400, 3600))
    return out
