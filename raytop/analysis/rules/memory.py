"""Worker memory rule: heap-pressure."""

from __future__ import annotations

from ...format import fmt_bytes
from ...model import OperatorStats, Snapshot, Suggestion, op_key
from .. import thresholds as th
from ..window import Window
from .common import call, first_logical, model_logical, pct, running_dataset, suggest


def _node_pressure(snap: Snapshot) -> tuple[str, float, int | None] | None:
    """(node, used fraction, Ray worker heap) of the fullest node whose memory Ray workers hold."""
    worst = None
    for n in snap.nodes:
        if n.mem_used_bytes is None or not n.mem_total_bytes:
            continue
        f = n.mem_used_bytes / n.mem_total_bytes
        if n.heap_bytes is not None and n.heap_bytes < th.RAY_SHARE_OF_USED * n.mem_used_bytes:
            continue  # something other than the job fills this node
        if worst is None or f > worst[1]:
            worst = (n.ip or n.node_id, f, n.heap_bytes)
    return worst


def _heaviest(win: Window) -> tuple[str, OperatorStats, str] | None:
    """(dataset, operator, its label) holding the most worker heap in the latest snapshot."""
    top: tuple[str, OperatorStats] | None = None
    for d in win.latest.datasets:
        for op in d.operators:
            if op.heap_bytes is not None and (top is None or op.heap_bytes > (top[1].heap_bytes or 0)):
                top = (d.dataset_id, op)
    return (top[0], top[1], win.label(top[0], op_key(top[1]))) if top else None


def _workers(op) -> int | None:
    if op.actors is not None and op.actors.running:
        return op.actors.running
    return op.tasks_running or None


def check_heap_pressure(win: Window) -> list[Suggestion]:
    out = []
    pressure = [(s, win.summary(s, _node_pressure)) for s in win.snaps]
    known = [(s, p) for s, p in pressure if p is not None]
    if len(known) >= th.MIN_SAMPLES:
        hot = [(s, p) for s, p in known if p[1] >= th.NODE_MEM_FRACTION]
        share = len(hot) / len(known)
        if share >= th.HOLD_FRACTION:
            crit = (sum(1 for _, p in known if p[1] >= th.NODE_MEM_CRITICAL_FRACTION)
                    >= th.HOLD_FRACTION * len(known))
            ds_id = running_dataset(win)
            top = _heaviest(win)
            node, frac, heap = hot[-1][1]
            evidence = (f"node {node} memory {pct(frac)} used (>= {pct(th.NODE_MEM_FRACTION)} in "
                        f"{len(hot)}/{len(known)} samples {win.describe()})"
                        + (f", Ray workers hold {fmt_bytes(heap)}" if heap is not None else "")
                        + (f"; {top[2]} holds the most, {fmt_bytes(top[1].heap_bytes)}" if top else "")
                        + "; Ray's OOM killer starts killing workers at 95 %")
            if top and top[1].heap_bytes is not None:
                ds_id = top[0]
                w = _workers(top[1])
                each = top[1].heap_bytes / w if w else top[1].heap_bytes
                target = first_logical(win, ds_id, op_key(top[1]))
                fix = (call(target, f"memory={int(each * 1.2)}") + f"  # ~{fmt_bytes(each)} per worker "
                       "now: Ray then schedules only as many as fit; or lower its concurrency/batch_size")
            else:
                fix = "lower the concurrency or batch_size of the heaviest operator, and set memory= on it"
            out.append(suggest("heap-pressure", "critical" if crit else "warning",
                               f"Node {node} is running out of memory", evidence, fix,
                               operator=top[2] if top else None, op_id=op_key(top[1]) if top else None,
                               dataset_id=ds_id, window=win,
                               share=share, figures={"mem_fraction": frac, "ray_heap_bytes": heap}))
    for ds_id in win.dataset_ids():
        for key in win.operator_keys(ds_id):
            name = win.label(ds_id, key)
            model = model_logical(win, ds_id, key)
            limit = (model.ray_remote_args or {}).get("memory") if model is not None else None
            if model is None or not limit or any(s.op_id == key for s in out):
                continue
            ops = win.op_samples(ds_id, key)
            per = [h / w for _, o in ops if (h := o.heap_bytes) and (w := _workers(o))]
            if len(per) < th.MIN_SAMPLES:
                continue
            near = [p for p in per if p >= th.WORKER_MEM_LIMIT_FRACTION * limit]
            share = len(near) / len(per)
            if share < th.HOLD_FRACTION:
                continue
            evidence = (f"{name}: each worker uses up to {fmt_bytes(max(per))} of heap against its "
                        f"memory={fmt_bytes(limit)} request (>= {pct(th.WORKER_MEM_LIMIT_FRACTION)} in "
                        f"{len(near)}/{len(per)} samples {win.describe()}): more workers fit on a node "
                        "than its memory holds")
            fix = (call(model.name, f"memory={int(max(per) * 1.3)}") + f"  # now {int(limit)}; "
                   "or a smaller batch_size")
            out.append(suggest("heap-pressure", "warning", f"{name} outgrows its memory request",
                               evidence, fix, operator=name, op_id=key, dataset_id=ds_id, window=win,
                               share=share, figures={"memory_request": limit, "peak_per_worker": max(per)}))
    return out
