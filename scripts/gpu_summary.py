"""Summarise GPU recordings: rows/s, mean GPU utilisation while the dataset ran, peak GPU memory,
which operator each GPU process was attributed to, and the advisor's suggestions.

    python scripts/gpu_summary.py A.raytop [B.raytop ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from statistics import mean

from raytop.analysis.advisor import advise
from raytop.recording import RecordingReader


def _by_index(per_gpu: dict) -> dict:
    """Mean utilisation per GPU index (a node may appear under two ids early in a recording)."""
    merged: dict = {}
    for (_node, index), values in per_gpu.items():
        merged.setdefault(index, []).extend(values)
    return {str(i): round(mean(v), 1) for i, v in sorted(merged.items())}


def summarise(path: str) -> dict:
    with RecordingReader(path) as rec:
        snaps = list(rec.iter_snapshots())
        meta = rec.meta
    finals = {}
    for s in snaps:
        for d in s.datasets:
            finals[d.dataset_id] = d
    ds = max(finals.values(), key=lambda d: d.rows_out or 0) if finals else None
    running = [s for s in snaps if ds and any(d.dataset_id == ds.dataset_id and d.state == "RUNNING"
                                              for d in s.datasets)]
    per_gpu, mem_frac, owners, gpus = {}, [], set(), {}
    for s in running:
        for n in s.nodes:
            for g in n.gpus:
                gpus[(n.node_id, g.index)] = g.name
                if g.util_percent is not None:
                    per_gpu.setdefault((n.node_id, g.index), []).append(g.util_percent)
                for p in g.processes:
                    if p.operator:
                        owners.add((g.index, p.operator))
                if g.mem_used_bytes is not None and g.mem_total_bytes and \
                        any(p.operator for p in g.processes):
                    mem_frac.append(g.mem_used_bytes / g.mem_total_bytes)
    # Utilisation of the GPUs the pipeline used (a process of one of its operators ran there);
    # on a machine with more GPUs than actors the idle ones would only dilute the mean.
    used = {(nid, i) for (nid, i) in per_gpu if any(o[0] == i for o in owners)} or set(per_gpu)
    utils = [u for k in used for u in per_gpu[k]]
    duration = None
    if ds and ds.start_time and ds.end_time:
        duration = ds.end_time - ds.start_time
    elif running:
        duration = running[-1].t - running[0].t
    rows = ds.rows_out if ds else None
    op_gpu_mem = {}
    for s in running:
        for d in s.datasets:
            for op in d.operators:
                if op.gpu_mem_bytes:
                    op_gpu_mem[op.name] = max(op_gpu_mem.get(op.name, 0), op.gpu_mem_bytes)
    return {
        "recording": path,
        "snapshots": len(snaps),
        "gpus": sorted({f"{k[1]}: {v}" for k, v in gpus.items()}),
        "rows": rows,
        "duration_s": duration,
        "rows_per_s": (rows / duration) if rows and duration else None,
        "gpu_util_mean_percent": mean(utils) if utils else None,
        "gpu_util_mean_by_gpu": _by_index(per_gpu),
        "gpu_mem_peak_fraction": max(mem_frac) if mem_frac else None,
        "gpu_process_operators": sorted(f"GPU {i}: {op}" for i, op in owners),
        "operator_gpu_mem_peak_bytes": op_gpu_mem,
        "suggestions": [{"rule": x.rule, "severity": x.severity, "operator": x.operator,
                         "evidence": x.evidence, "fix": x.fix} for x in advise(snaps)],
        "command": meta.get("command"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("recordings", nargs="+")
    ap.add_argument("--json")
    args = ap.parse_args()
    out = [summarise(p) for p in args.recordings]
    for s in out:
        print(f"{s['recording']}: rows/s={s['rows_per_s'] and round(s['rows_per_s'])} "
              f"gpu_util_mean={s['gpu_util_mean_percent'] and round(s['gpu_util_mean_percent'], 1)}% "
              f"gpu_mem_peak={s['gpu_mem_peak_fraction'] and round(100 * s['gpu_mem_peak_fraction'], 1)}% "
              f"rules={[(x['rule'], x['severity']) for x in s['suggestions']]}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    sys.exit(main())
