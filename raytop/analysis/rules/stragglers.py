"""stragglers: a few tasks of an operator running far longer than its finished tasks took.

Needs the probe: the running tasks and where they run (``OperatorTails.slow_tasks``) are read in
the driver; Ray's exported series carry only the histograms, so without the probe it stays
silent. A task counts from when it started running on its worker (Ray's task events), so a task
that waits for a worker to start, or behind another on an actor, is not a straggler.
"""

from __future__ import annotations

from ...format import fmt_bytes, fmt_count, fmt_seconds, fmt_short_seconds
from ...model import OperatorStats, Suggestion, op_key
from ...tails import OperatorTails, SlowTask
from .. import thresholds as th
from ..window import Window, cluster_cpus, is_source_op
from .common import first_logical, suggest


def stragglers_of(op: OperatorStats) -> tuple[list[SlowTask], float, int] | None:
    """(the straggling tasks, the limit they passed in seconds, the running tasks) when the
    operator has a few; None otherwise."""
    tails = op.tails
    if tails is None or tails.slow_tasks is None or is_source_op(op):
        return None
    p = tails.task_s
    if p is None or p.p90 is None or (p.count or 0) < th.STRAGGLER_MIN_TASKS:
        return None
    if any(flag.startswith("outputs:") for flag in op.backpressure):
        return None  # its outputs wait for downstream: every task of it takes longer
    limit = max(th.STRAGGLER_MIN_S, th.STRAGGLER_FACTOR * p.p90)
    slow = [t for t in tails.slow_tasks if t.running_s is not None and t.running_s >= limit]
    listed = len(tails.slow_tasks)
    if not slow or ((tails.slow_task_count or 0) > listed and len(slow) == listed):
        return None  # none, or more than the probe lists: not "a few"
    running = max(op.tasks_running or 0, tails.slow_task_count or 0, len(slow))
    if len(slow) > max(1, int(th.STRAGGLER_MAX_SHARE * running)):
        return None  # most of what runs is that slow: the operator slowed down, not a few tasks
    return slow, limit, running


def _where(t: SlowTask, ips: dict) -> str:
    node = "node unknown" if t.node_id is None else f"node {ips.get(t.node_id) or t.node_id[:12]}"
    pid = f", pid {t.worker_pid}" if t.worker_pid is not None else ""
    task = f"task {t.task_index}" if t.task_index is not None else "a task"
    return f"{task} running {fmt_seconds(t.running_s)} on {node}{pid}"


def _blocks(tails: OperatorTails | None, label: str) -> str:
    """Block sizes in one clause ('' when unknown): skew shows as a p99 far above the p50."""
    if tails is None:
        return ""
    parts = []
    if tails.block_bytes is not None and tails.block_bytes.p50 is not None:
        parts.append(f"{fmt_bytes(tails.block_bytes.p50)} / {fmt_bytes(tails.block_bytes.p99)}")
    if tails.block_rows is not None and tails.block_rows.p50 is not None:
        parts.append(f"{fmt_count(tails.block_rows.p50)} / {fmt_count(tails.block_rows.p99)} rows")
    return f"; {label} blocks p50 / p99: " + ", ".join(parts) if parts else ""


def _suggestion(win: Window, ds_id: str, op: OperatorStats,
                found: tuple[list[SlowTask], float, int]) -> Suggestion:
    slow, limit, running = found
    key, label = op_key(op), win.label(ds_id, op_key(op))
    p = op.tails.task_s if op.tails is not None else None
    assert p is not None  # stragglers_of checked it
    ips = {n.node_id: n.ip for n in win.latest.nodes}
    d = win.latest_dataset(ds_id)
    up_key = win.upstream_of(ds_id, key)
    upstream = win.op_of(d, up_key) if d is not None and up_key is not None else None
    evidence = (f"{label}: {len(slow)} of {running} running tasks far slower than the rest: "
                + "; ".join(_where(t, ips) for t in slow)
                + f". Its {p.count} finished tasks took p50 {fmt_short_seconds(p.p50)}, "
                f"p90 {fmt_short_seconds(p.p90)}, p99 {fmt_short_seconds(p.p99)} (bucket resolution);"
                f" limit {th.STRAGGLER_FACTOR:g}x p90, at least {th.STRAGGLER_MIN_S:g} s"
                + _blocks(upstream.tails if upstream is not None else None,
                          f"input ({win.label(ds_id, up_key)})" if up_key is not None else "input")
                + _blocks(op.tails, "output"))
    nodes = sorted({t.node_id for t in slow if t.node_id is not None})
    node_text = ", ".join(ips.get(n) or n[:12] for n in nodes) or "unknown"
    blocks = int(2 * (cluster_cpus(win.latest) or 1))
    fix = (f"# skewed blocks (a p99 far above the p50): even them out before "
           f"{first_logical(win, ds_id, key)}\n"
           f"ds = ds.repartition({blocks})  # or: DataContext.get_current().target_max_block_size = "
           "64 * 1024**2\n"
           f"# one slow node ({node_text}): check it (load, throttling, disk) or drain it;\n"
           f"# where the task waits: raytop stacks --operator '{op.name}'")
    return suggest("stragglers", "warning", f"Straggling tasks in {label}", evidence, fix,
                   operator=label, op_id=key, dataset_id=ds_id, window=win,
                   share=min(1.0, max(t.running_s or 0.0 for t in slow) / (4 * limit)),
                   figures={"slow_tasks": len(slow), "tasks_running": running,
                            "limit_s": round(limit, 3), "task_p50_s": p.p50, "task_p90_s": p.p90,
                            "task_p99_s": p.p99, "tasks_in_histogram": p.count, "nodes": nodes,
                            "running_s": [t.running_s for t in slow],
                            "task_indexes": [t.task_index for t in slow]})


def check_stragglers(win: Window) -> list[Suggestion]:
    out = []
    for ds_id, samples in win.judged():
        _, d = samples[-1]
        for op in d.operators:
            found = stragglers_of(op)
            if found is not None:
                out.append(_suggestion(win, ds_id, op, found))
    return out
