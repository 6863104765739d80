"""Recordings at scale: the size of a 1,000-node recording, and the report of a 24-hour one.

- ``recording_mb_per_hour_1000_nodes``: node_sim.ClusterSim (1,000 nodes x 8 GPUs, every reading
  that moves each second moving, a node dying and one joining every 10 minutes, one dataset of 40
  operators) written for 3 minutes (3 keyframe periods) with the real RecordingWriter; the file's
  bytes per snapshot x 3,600.
- ``report_24h_s`` / ``report_24h_peak_rss_mb`` / ``report_rss_24h_vs_2h``: 86,400 snapshots at
  1 Hz of a realistic job (recording_size.PipelineSim's 3 datasets x 8 operators on 4 nodes with 2
  GPUs each), then ``write_report`` (what ``raytop report`` runs) to HTML in a fresh process: wall
  time and peak RSS; the same for the first 2 hours of it, to show memory does not grow with length.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Measurement, child_env, tail
from benchmarks.node_sim import ClusterSim
from benchmarks.recording_size import PipelineSim
from raytop.recording import RecordingWriter
from raytop.recording.schema import to_ns

GROUP = "recording"

_REPORT = r"""
import json, resource, sys, time
from raytop.report import write_report
t0, cpu0 = time.perf_counter(), time.process_time()
write_report(sys.argv[1], sys.argv[2], "html", force=True)
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def nodes_size(nodes: int, seconds: int, folder: Path) -> dict:
    sim = ClusterSim(nodes)
    path = folder / f"nodes{nodes}.raytop"
    w = RecordingWriter(path, meta={"interval": 1.0})
    write_cpu = 0.0
    for step in range(seconds):
        snap = sim.snapshot(step)
        t0 = time.process_time()
        w.snapshot(snap)
        write_cpu += time.process_time() - t0
    keyframes = w.keyframes_written
    w.close(exit_code=0)
    size = path.stat().st_size
    path.unlink()
    return {"nodes": nodes, "seconds": seconds, "file_bytes": size, "keyframes": keyframes,
            "bytes_per_snapshot": size / seconds, "mb_per_hour": size / seconds * 3600 / 1e6,
            "write_cpu_ms_per_snapshot": write_cpu / seconds * 1e3}


def write_day(path: Path, seconds: int) -> None:
    pipeline, cluster = PipelineSim(), ClusterSim(4, gpus_per_node=2, churn_every=3600)
    with RecordingWriter(path, meta={"command": ["raytop", "run", "job.py"], "interval": 1.0}) as w:
        for step in range(seconds):
            snap = pipeline.snapshot(step)
            w.snapshot(dataclasses.replace(snap, nodes=cluster.node_table(step)))


def truncated(path: Path, seconds: int, folder: Path) -> Path:
    """A copy of ``path`` holding its first ``seconds`` of snapshots."""
    out = folder / f"first{seconds}.raytop"
    shutil.copy(path, out)
    con = sqlite3.connect(out)
    first = con.execute("SELECT min(t_ns) FROM snapshots").fetchone()[0]
    con.execute("DELETE FROM snapshots WHERE t_ns >= ?", (first + to_ns(seconds),))
    con.commit()
    con.execute("VACUUM")
    con.close()
    return out


def report_run(path: Path) -> dict:
    p = subprocess.run([sys.executable, "-c", _REPORT, str(path), str(path.with_suffix(".html"))],
                       capture_output=True, text=True, timeout=1800, env=child_env())
    if p.returncode != 0:
        raise RuntimeError(f"report failed: {tail(p.stderr, 3)}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _span(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:.3g} min"


def run(quick: bool) -> list[Measurement]:
    nodes, seconds = (8, 65) if quick else (1000, 180)
    day = 600 if quick else 86_400
    first = 200 if quick else 2 * 3600
    with tempfile.TemporaryDirectory(prefix="raytop-bench-") as tmp:
        folder = Path(tmp)
        size = nodes_size(nodes, seconds, folder)
        rec = folder / "day.raytop"
        t0 = time.perf_counter()
        write_day(rec, day)
        write_s = time.perf_counter() - t0
        rec_mb = rec.stat().st_size / 1e6
        long = report_run(rec)
        short = report_run(truncated(rec, first, folder))
    span, first_span = _span(day), _span(first)
    size_note = (f"{size['bytes_per_snapshot']:.0f} B/snapshot over {seconds} s, "
                 f"{size['keyframes']} keyframes; writer {size['write_cpu_ms_per_snapshot']:.0f} ms "
                 "CPU per snapshot")
    long_mb, short_mb = long["peak_rss_kb"] / 1e3, short["peak_rss_kb"] / 1e3
    detail = {"recording_mb": round(rec_mb, 1), "write_s": round(write_s, 1), "report": long,
              "report_2h": short}
    return [
        Measurement("recording_mb_per_hour_1000_nodes", GROUP,
                    f"MB per hour at 1 Hz, {nodes:,} nodes x 8 GPUs (simulated)", "MB",
                    round(size["mb_per_hour"], 2), 200.0, note=size_note, detail=size),
        Measurement("report_24h_s", GROUP, f"report (HTML) of a {span} recording at 1 Hz", "s",
                    round(long["wall_s"], 1), 60.0,
                    note=f"{long['cpu_s']:.1f} s CPU; recording {rec_mb:.0f} MB, {day:,} snapshots",
                    detail=detail),
        Measurement("report_24h_peak_rss_mb", GROUP, f"report of a {span} recording, peak RSS", "MB",
                    round(long_mb, 1), None, compare="stated",
                    note=f"first {first_span} of it: {short_mb:.0f} MB",
                    detail=detail),
        Measurement("report_rss_24h_vs_2h", GROUP, f"report peak RSS, {span} vs {first_span} recording",
                    "x",
                    round(long_mb / short_mb, 3), 1.1, detail=detail),
    ]
