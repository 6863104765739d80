"""raytop's per-tick read work on a simulated cluster of 100 to 1,000 nodes (``sim_cluster``).

Two processes besides the suite's: the fake cluster (``sim_cluster serve``), and raytop's reading
side, which runs the sources a live session gets (``ClusterSession(...).sources()`` and the GPU
source, in the collector ``raytop record`` uses; the recorder itself is not attached) for a number
of ticks at 1 Hz, with ``RAYTOP_LOCAL_NODES=none`` so that every node is another machine's.
It reports the CPU-seconds of its own process per tick (``getrusage``: every thread, the
background page fetches included), each tick's wall time, and its peak RSS.

    python -m benchmarks.sim_read read --address 127.0.0.1:PORT --ticks 30 [--profile out.prof]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from benchmarks.common import ROOT, Measurement, child_env, median, percentile, skipped

GROUP = "sim"
SIZES = (100, 250, 1000)
QUICK_SIZES = (50,)
TARGET_MS = 100.0  # issue 16: per-tick read work at 1,000 nodes
WARMUP_TICKS = 7  # the first pages arrive, connections open, every group has read once


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def read_ticks(address: str, ticks: int, warmup: int, interval: float = 1.0,
               profile: str | None = None) -> dict:
    """Tick raytop's collector over the cluster at ``address``; figures of the measured ticks."""
    from raytop.commands.cluster_session import ClusterSession
    from raytop.commands.common import build_collector

    session = ClusterSession(address, light=True)
    collector = build_collector(session=session, probe=None, interval=interval)
    walls: list[float] = []
    snap = None
    profiler = None
    try:
        next_due = time.monotonic()
        for i in range(warmup + ticks):
            if i == warmup:
                cpu0, t0 = _cpu_s(), time.monotonic()
                if profile:
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()
            started = time.monotonic()
            snap = collector.tick()
            if i >= warmup:
                walls.append((time.monotonic() - started) * 1e3)
            next_due += interval
            time.sleep(max(0.0, next_due - time.monotonic()))
        cpu, elapsed = _cpu_s() - cpu0, time.monotonic() - t0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
    finally:
        collector.stop()
        session.close()
    assert snap is not None
    nodes = snap.nodes
    return {
        "ticks": ticks, "cpu_s": round(cpu, 3), "elapsed_s": round(elapsed, 2),
        "cpu_ms_per_tick": round(cpu / ticks * 1e3, 2),
        "wall_ms_median": round(median(walls), 1), "wall_ms_p90": round(percentile(walls, 0.9), 1),
        "wall_ms_max": round(max(walls), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "nodes": len(nodes),
        "nodes_with_store": sum(1 for n in nodes if n.object_store.used_bytes is not None),
        "nodes_with_heap": sum(1 for n in nodes if n.heap_bytes is not None),
        "nodes_with_workers": sum(1 for n in nodes if n.num_workers is not None),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "sources": dict(snap.sources),
    }


class Served:
    """``sim_cluster serve`` in a child process, for a ``with`` block."""

    def __init__(self, nodes: int, distinct: bool = False) -> None:
        cmd = [sys.executable, "-m", "benchmarks.sim_cluster", "serve", "--nodes", str(nodes)]
        self._proc = subprocess.Popen(cmd + (["--distinct"] if distinct else []), cwd=ROOT,
                                      env=child_env(), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line:
            self.close()
            raise RuntimeError(f"sim_cluster serve --nodes {nodes} did not start")
        self.address = json.loads(line)["gcs"]

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def measure(nodes: int, ticks: int, warmup: int | None = None) -> dict:
    """Serve ``nodes`` simulated nodes and read them from a fresh raytop process. The warm-up
    ticks (every raylet and page read at once, first connections) are not measured."""
    warmup = WARMUP_TICKS + nodes // 200 if warmup is None else warmup
    with Served(nodes) as served:
        p = subprocess.run([sys.executable, "-m", "benchmarks.sim_read", "read", "--address",
                            served.address, "--ticks", str(ticks), "--warmup", str(warmup)],
                           cwd=ROOT, env=child_env({"RAYTOP_LOCAL_NODES": "none"}),
                           capture_output=True, text=True, timeout=warmup + ticks + 120)
    if p.returncode != 0:
        raise RuntimeError(f"reading {nodes} simulated nodes failed: {p.stderr.strip()[-500:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["cluster_nodes"] = nodes
    return out


def _row(figures: dict, *, main: bool) -> Measurement:
    n = figures["cluster_nodes"]
    label = f"per-tick read work at {n:,} nodes (simulated), CPU"
    note = (f"{n} nodes: wall {figures['wall_ms_median']:.0f} ms median / "
            f"{figures['wall_ms_max']:.0f} ms max per tick, peak RSS {figures['peak_rss_mb']:.0f} MB")
    if figures["nodes_with_store"] != n or figures["nodes_with_heap"] != n:
        note += (f"; only {figures['nodes_with_store']} nodes with store figures and "
                 f"{figures['nodes_with_heap']} with heap")
    return Measurement("sim_read_cpu_ms" if main else f"sim_read_cpu_ms_{n}", GROUP, label, "ms",
                       figures["cpu_ms_per_tick"], TARGET_MS if main else None,
                       compare="<=" if main else "stated", note=note, detail=figures)


def run(quick: bool) -> list[Measurement]:
    sizes = QUICK_SIZES if quick else SIZES
    ticks = 5 if quick else 30
    try:
        import grpc  # noqa: F401

        from raytop.sources.ray_rpc import protos

        protos()
    except Exception as e:  # noqa: BLE001
        return [skipped("sim_read_cpu_ms", GROUP, "per-tick read work (simulated)", "ms",
                        TARGET_MS, f"Ray's gRPC modules do not load: {e}")]
    figures = [measure(n, ticks) for n in sizes]
    return [_row(f, main=f is figures[-1]) for f in figures[::-1]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sim_read")
    ap.add_argument("command", choices=("read", "measure"))
    ap.add_argument("--address", default=None)
    ap.add_argument("--nodes", type=int, default=1000, help="measure: cluster size")
    ap.add_argument("--ticks", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=None,
                    help=f"ticks not measured (default {WARMUP_TICKS} + nodes/200)")
    ap.add_argument("--profile", default=None, help="read: cProfile the measured ticks here")
    args = ap.parse_args(argv)
    if args.ticks < 1 or (args.warmup is not None and args.warmup < 0):
        print("sim_read: --ticks must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    if args.command == "measure":
        print(json.dumps(measure(args.nodes, args.ticks, args.warmup)))
        return 0
    if not args.address:
        print("sim_read: read needs --address", file=sys.stderr)
        return 2
    os.environ.setdefault("RAYTOP_LOCAL_NODES", "none")
    warmup = WARMUP_TICKS if args.warmup is None else args.warmup
    print(json.dumps(read_ticks(args.address, args.ticks, warmup, profile=args.profile)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
