"""Block size rules: small-blocks, large-blocks."""

from __future__ import annotations

import math

from ...format import fmt_bytes
from ...model import OperatorStats, Suggestion, op_key
from .. import thresholds as th
from ..window import Window, cluster_cpus, is_source_op
from .common import call, first_logical, is_read, suggest


def _latest_ops(win: Window, ds_id: str) -> list[OperatorStats]:
    samples = win.running(ds_id)
    if not samples:
        return []
    return [o for o in samples[-1][1].operators if not is_source_op(o)]


def _total_blocks(op: OperatorStats) -> float | None:
    est = None
    if op.rows_total and op.avg_block_rows:
        est = op.rows_total / op.avg_block_rows
    vals = [v for v in (est, op.blocks_out) if v is not None]
    return max(vals) if vals else None


def _reads_input(win: Window, ds_id: str, key: str, index: int) -> bool:
    """The operator is first on its branch (it reads an input buffer)."""
    graph = win.graph(ds_id)
    if graph is not None and graph.edges_known:
        return not graph.upstream(key)
    return index == 0


def _source_logical(win: Window, ds_id: str, key: str) -> str | None:
    ops = win.logical_ops(ds_id, key)
    if ops and is_read(ops[0].name):
        return ops[0].name
    head = win.name_of(ds_id, key).split("->")[0]
    return head if is_read(head) else None


def check_small_blocks(win: Window) -> list[Suggestion]:
    out = []
    for ds_id, _ in win.judged():
        for op in _latest_ops(win, ds_id):
            if (op.avg_block_bytes is None or op.avg_task_s is None or op.tasks_finished is None
                    or op.avg_block_bytes >= th.SMALL_BLOCK_BYTES or op.avg_task_s >= th.SHORT_TASK_S
                    or op.tasks_finished < th.SMALL_BLOCKS_MIN_TASKS):
                continue
            blocks = _total_blocks(op)
            total = op.avg_block_bytes * blocks if blocks else None
            cpus = cluster_cpus(win.latest) or 1
            want = max(int(2 * cpus), math.ceil(total / th.TARGET_BLOCK_BYTES)) if total else int(4 * cpus)
            key, label = op_key(op), win.label(ds_id, op_key(op))
            evidence = (f"{label}: {op.tasks_finished} tasks so far averaging "
                        f"{1000 * op.avg_task_s:.1f} ms on blocks of {fmt_bytes(op.avg_block_bytes)}"
                        + (f" (~{int(blocks)} blocks, {fmt_bytes(total)} in all)" if blocks else "")
                        + f"; per-task overhead dominates {win.describe()}")
            read = _source_logical(win, ds_id, key)
            logical = win.logical_ops(ds_id, key)
            batch = next((lop for lop in reversed(logical) if lop.batch_size is not None), None)
            now = f"  # now ~{int(blocks)} blocks" if blocks else ""
            if read is not None:
                fix = call(read, f"override_num_blocks={want}") + now
            elif batch is not None and batch.batch_size is not None:
                factor = max(2, math.ceil(th.TARGET_BLOCK_BYTES / max(op.avg_block_bytes, 1)))
                fix = (call(batch.name, f"batch_size={batch.batch_size * min(factor, 64)}")
                       + f"  # now batch_size={batch.batch_size}")
            else:
                fix = (f"ds = ds.repartition({want}) before {first_logical(win, ds_id, key)}, or "
                       f"fewer blocks at the source (override_num_blocks={want})" + now)
            out.append(suggest("small-blocks", "warning", f"Tiny blocks in {label}", evidence,
                               fix, operator=label, op_id=key, dataset_id=ds_id, window=win,
                               share=min(1.0, op.tasks_finished / (4 * th.SMALL_BLOCKS_MIN_TASKS)),
                               figures={"avg_block_bytes": op.avg_block_bytes,
                                        "avg_task_s": op.avg_task_s,
                                        "tasks_finished": op.tasks_finished,
                                        "suggested_blocks": want}))
            break  # the most upstream one: fixing it changes the blocks of all after it
    return out


def check_large_blocks(win: Window) -> list[Suggestion]:
    out = []
    for ds_id, _ in win.judged():
        cpus = cluster_cpus(win.latest)
        for i, op in enumerate(_latest_ops(win, ds_id)):
            size = op.avg_block_bytes
            if size is None:
                continue
            blocks = _total_blocks(op)
            huge = size >= th.LARGE_BLOCK_BYTES
            few = (_reads_input(win, ds_id, op_key(op), i) and cpus is not None and blocks is not None
                   and blocks < cpus and size >= th.FEW_BLOCKS_MIN_BYTES)
            if not (huge or few):
                continue
            total = size * blocks if blocks else None
            want = (max(int(2 * (cpus or 1)), math.ceil(total / (64 * th.MIB))) if total
                    else int(2 * (cpus or 1)))
            why = []
            if huge:
                why.append(f"blocks average {fmt_bytes(size)}, over {fmt_bytes(th.LARGE_BLOCK_BYTES)} "
                           "(1.5x Ray's 128 MiB target): each one occupies the store and a worker's heap "
                           "at once")
            if few and blocks is not None:
                why.append(f"only ~{int(blocks)} blocks for {cpus:g} CPU slots, so slots sit idle")
            key, label = op_key(op), win.label(ds_id, op_key(op))
            evidence = f"{label}: " + "; ".join(why) + f" {win.describe()}"
            read = _source_logical(win, ds_id, key)
            logical = win.logical_ops(ds_id, key)
            batch = next((lop for lop in reversed(logical) if lop.batch_size is not None), None)
            if read is not None:
                fix = call(read, f"override_num_blocks={want}") + (
                    f"  # now ~{int(blocks)} blocks" if blocks else "")
            elif batch is not None and batch.batch_size is not None and huge:
                factor = math.ceil(size / (64 * th.MIB))
                fix = (call(batch.name, f"batch_size={max(1, batch.batch_size // factor)}")
                       + f"  # now batch_size={batch.batch_size}")
            else:
                fix = (f"ds = ds.repartition({want}) before {first_logical(win, ds_id, key)}; "
                       "or DataContext.get_current().target_max_block_size = 64 * 1024**2")
            out.append(suggest("large-blocks", "warning", f"Oversized blocks in {label}",
                               evidence, fix, operator=label, op_id=key, dataset_id=ds_id, window=win,
                               share=1.0 if huge else 0.6,
                               figures={"avg_block_bytes": size, "blocks": blocks,
                                        "cpus": cpus, "suggested_blocks": want}))
            break
    return out
