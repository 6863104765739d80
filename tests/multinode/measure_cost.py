"""Measures what watching one node costs, for docs/scaling.md (a script, not a test).

Starts the same three-raylet cluster as the tests (private temp dir and ports), runs the spread
pipeline so every node has Ray Data workers to sample, then at 1 Hz for ``--samples`` reads:

- sampler side: CPU seconds and wall time per ``sample()`` on each node, the actor's RSS;
- bridge side: wall and CPU time of ``SamplerSource.read()`` and ``ClusterSource.read()``;
- bytes: pickled sampler answer, a node's JSON in the snapshot, zlib-compressed as recorded;
- the metrics endpoint page a ``--no-agents`` session reads instead (size, fetch+parse time).

usage: python -m tests.multinode.measure_cost [--samples 30]   (from the repository root)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

from .ray_nodes import RayNodes, make_root, remove_root

HERE = Path(__file__).resolve().parent


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process (the "bridge")
    return r.ru_utime + r.ru_stime


def _stats(xs):
    xs = sorted(xs)
    return {"median": round(statistics.median(xs), 6), "p90": round(xs[int(0.9 * (len(xs) - 1))], 6),
            "max": round(xs[-1], 6)}


def measure(address: str, samples: int) -> dict:
    import ray

    from raytop.merge import merge_parts
    from raytop.model import to_dict
    from raytop.sources.cluster import ClusterSource
    from raytop.sources.metrics import fetch_metrics_text, node_endpoint, parse_prometheus
    from raytop.sources.sampler import SamplerSource

    ray.init(address=address, logging_level="ERROR", log_to_driver=False, namespace="_raytop")
    samplers = SamplerSource(include_local=True)
    cluster = ClusterSource()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until every node's sampler answers
        part = samplers.read()
        if len(part.overlays) == len([n for n in ray.nodes() if n["Alive"]]):
            break
        time.sleep(1)
    for _ in range(5):  # warm caches (USS ages, gRPC channels, metrics)
        samplers.read(), cluster.read()
        time.sleep(1)
    first = {n: s.cpu_s for n, s in samplers.samplers().items() if s}
    sample_wall, read_wall, read_cpu, cl_wall, cl_cpu, node_json, node_z = [], [], [], [], [], [], []
    t0 = time.monotonic()
    for _ in range(samples):
        c, w = _cpu(), time.monotonic()
        part = samplers.read()
        read_wall.append(time.monotonic() - w)
        read_cpu.append(_cpu() - c)
        c, w = _cpu(), time.monotonic()
        cpart = cluster.read()
        cl_wall.append(time.monotonic() - w)
        cl_cpu.append(_cpu() - c)
        for s in samplers.samplers().values():
            if s:
                sample_wall.append(s.read_s)
        snap = merge_parts(time.time(), [cpart, part], {})
        for node in snap.nodes:
            text = json.dumps(to_dict(node), separators=(",", ":"))
            node_json.append(len(text))
            node_z.append(len(zlib.compress(text.encode())))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - w)))
    elapsed = time.monotonic() - t0
    last = {n: s for n, s in samplers.samplers().items() if s}
    n_nodes = len(last)
    sampler_cpu = [(last[n].cpu_s - first[n]) / samples for n in last if n in first]
    sizes = [x for v in samplers.answer_sizes().values() for x in v]
    ep = next(node_endpoint(n) for n in ray.nodes() if node_endpoint(n))
    w = time.monotonic()
    text = fetch_metrics_text(*ep)
    parsed = parse_prometheus(text, ("ray_",))
    metrics_s = time.monotonic() - w
    samplers.close()
    return {
        "nodes": n_nodes,
        "samples": samples,
        "elapsed_s": round(elapsed, 1),
        "sampler_cpu_s_per_sample": _stats(sampler_cpu),
        "sampler_core_share_at_1hz": round(max(sampler_cpu), 5),
        "sampler_read_s_on_node": _stats(sample_wall),
        "sampler_rss_bytes": _stats([s.rss_bytes for s in last.values() if s.rss_bytes]),
        "answer_pickled_bytes": _stats(sizes),
        "node_json_bytes": _stats(node_json),
        "node_json_zlib_bytes": _stats(node_z),
        "bridge_samplers_read_wall_s": _stats(read_wall),
        "bridge_samplers_read_cpu_s_per_node": _stats([c / n_nodes for c in read_cpu]),
        "bridge_cluster_read_wall_s": _stats(cl_wall),
        "bridge_cluster_read_cpu_s_per_node": _stats([c / n_nodes for c in cl_cpu]),
        "metrics_page_bytes": len(text),
        "metrics_fetch_parse_s": round(metrics_s, 4),
        "metrics_has_component_uss": "ray_component_uss_mb" in parsed,
        "metrics_has_gpu": any(k.startswith("ray_node_gpus") for k in parsed),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=30)
    args = ap.parse_args()
    root = make_root()
    cluster = RayNodes(root)
    pipeline = None
    try:
        cluster.start([{"w1": 1}, {"w2": 1}])
        pipeline = subprocess.Popen([sys.executable, str(HERE / "spread_pipeline.py"),
                                     cluster.address, str(root / "marker")], env=cluster.env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not (root / "marker").exists() and time.monotonic() < deadline:
            time.sleep(1)
        code = ("import json, sys; from tests.multinode.measure_cost import measure; "
                f"print(json.dumps(measure({cluster.address!r}, {args.samples})))")
        r = subprocess.run([sys.executable, "-c", code], env=cluster.env(), capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            sys.exit(r.stderr[-3000:])
        print(json.dumps(json.loads(r.stdout.strip().splitlines()[-1]), indent=1))
    finally:
        if pipeline is not None:
            pipeline.terminate()
            pipeline.wait(timeout=30)
        cluster.stop()
        remove_root(root)


if __name__ == "__main__":
    main()
