"""Which operator limits a dataset's throughput.

In a streaming pipeline a slow operator shows up as work piling up *in front of it* while it is
fully busy: its input queue (external + internal) holds blocks, all of its actors are busy (or its
tasks are running), and it is not itself held back by output backpressure (that would mean the
slowness is further downstream). The first operator after the input buffer always has its read
tasks queued, so for it a backlog only counts while it is not backpressured at all, or while it is
the only operator at work (then the budget or cap holding it back is its own use of it). A sink or
a trivial summary (a write, count()'s Project and AggregateNumRows, a limit) with blocks waiting in
front of it is not the bottleneck while an operator upstream of it is still at work: that one is.
When the driver's own loop over the dataset is the slow part (``analysis.consumer.consumer_bound``:
its code takes most of its time), no operator is the bottleneck (rule ``consumer-bound``).

An operator's score is the share of samples (dataset running, past start-up) in which all of this
holds; the highest score wins, ties go to the longer average backlog. Below
``BOTTLENECK_MIN_SCORE`` there is no clear bottleneck and the answer is None.

Graphs: operators are told apart by op id, and "first" means first on its branch (reading an input
buffer). A zip or join (not a union, which passes blocks on as they come) waits for its slowest
input: while its input branches are still being produced, the merge is waiting, not limiting;
unless an operator of those branches or after the merge already limits by the rule above in that
sample, the branch operator that is busy, not held by its output, and furthest behind (least of its
rows done) is credited. Operators held back by Ray's budget (``tasks:*``) wait for resources the
others hold, so the others go first; a tie credits nobody.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..dataset_rows import tail_kind
from ..model import DatasetStats, OperatorStats, Snapshot, op_key
from ..plan_graph import PlanGraph
from . import thresholds as th
from .consumer import consumer_bound
from .window import Window, busy_actors, is_source_op


def _out_held(op: OperatorStats) -> bool:
    return any(b.startswith("outputs:") for b in op.backpressure)


def _busy(op: OperatorStats) -> bool:
    if op.actors is not None:
        return (busy_actors(op) or 0) >= 1
    return (op.tasks_running or 0) >= 1


def _limiting(op: OperatorStats, first: bool, alone: bool = False) -> bool | None:
    """``alone``: no other operator of the dataset is busy, so whatever budget or cap holds
    ``op`` back, it is ``op``'s own work that the pipeline waits for."""
    q = op.queued_blocks
    if q is None:
        return None
    if q < 1:
        return False
    if _out_held(op):
        return False
    if first and op.backpressure and not alone:
        return False
    if op.actors is not None:
        busy = busy_actors(op)
        if busy is None:
            return None
        return busy >= 1 and not (op.actors.idle or 0)
    return (op.tasks_running or 0) >= 1


def _done_fraction(op: OperatorStats) -> float:
    if op.rows_out is not None and op.rows_total:
        return op.rows_out / op.rows_total
    return float(op.rows_out or 0)


def _downstream(graph: PlanGraph, key: str) -> list[str]:
    out, todo = [], [key]
    while todo:
        for c in graph.consumers(todo.pop()):
            if c.key not in out:
                out.append(c.key)
                todo.append(c.key)
    return out


def _credit_waited_on(win: Window, ds_id: str, graph: PlanGraph, ops: dict[str, OperatorStats],
                      flags: dict[str, bool | None]) -> None:
    """A merge whose input branches are still being produced waits for them: it is not the
    bottleneck; the busiest-behind operator of those branches is (see the module docstring)."""
    for key in list(flags):
        merge = ops.get(key)
        # a union passes each block on as it comes: it waits for no branch in particular
        if not graph.is_merge(key) or merge is None or merge.state == "FINISHED" \
                or merge.physical_class == "UnionOperator":
            continue
        branches = [k for up in win.upstreams_of(ds_id, key) for k in win.branch(ds_id, up)]
        if any(flags.get(k) for k in branches + _downstream(graph, key)):
            continue  # an operator already limits by its own queue: it stands
        working = [ops[k] for k in branches if k in ops and ops[k].state != "FINISHED"
                   and _busy(ops[k]) and not _out_held(ops[k])]
        # Held back by Ray's budget (tasks:...) it waits for resources other branches hold.
        free = [o for o in working if not any(b.startswith("tasks:") for b in o.backpressure)]
        candidates = free or working
        if not candidates:
            continue
        flags[key] = False
        slowest = min(candidates, key=_done_fraction)
        ties = [o for o in candidates if _done_fraction(o) == _done_fraction(slowest)]
        if len(ties) == 1:  # several equally behind: which one limits is not told
            flags[op_key(slowest)] = True


def _sample_flags(win: Window, ds_id: str, d: DatasetStats) -> dict[str, bool | None]:
    graph = win.graph(ds_id)
    ops = [o for o in d.operators if not is_source_op(o)]
    by_key = {op_key(o): o for o in ops}
    flags: dict[str, bool | None] = {}
    busy = [op_key(o) for o in ops if _busy(o)]
    for i, op in enumerate(ops):
        key = op_key(op)
        if graph is not None and graph.edges_known:
            first = not graph.upstream(key)
        else:
            first = i == 0
        flags[key] = _limiting(op, first, alone=busy == [key])
    if graph is not None and graph.edges_known:
        _credit_waited_on(win, ds_id, graph, by_key, flags)
    _clear_trivial_tails(win, ds_id, ops, flags)
    return flags


TRIVIAL_PARTS = ("Project",)  # select_columns: no real work per row


def is_trivial(op: OperatorStats) -> bool:
    """A sink or a summary whose every fused part does next to no work: a write, count()'s
    AggregateNumRows, an aggregation's tail, a limit, a column projection."""
    parts = [p.strip() for p in op.name.split("->")]
    return all(tail_kind(p) is not None or p in TRIVIAL_PARTS for p in parts)


def _clear_trivial_tails(win: Window, ds_id: str, ops: list[OperatorStats],
                         flags: dict[str, bool | None]) -> None:
    """Blocks wait in front of a sink or a trivial summary while the operator upstream of it is
    still at work: that operator, not the sink, is what the pipeline waits for."""
    graph = win.graph(ds_id)
    edges = graph is not None and graph.edges_known
    for i, op in enumerate(ops):
        key = op_key(op)
        if not flags.get(key) or not is_trivial(op):
            continue
        above = set(win.branch(ds_id, key)) - {key} if edges else {op_key(o) for o in ops[:i]}
        if any(_busy(o) and o.state != "FINISHED" for o in ops if op_key(o) in above):
            flags[key] = False


def _queues(d: DatasetStats) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The op keys of the operators with a known queue, and their queued blocks."""
    keys, queued = [], []
    for op in d.operators:
        q = op.queued_blocks
        if q is not None and not is_source_op(op):
            keys.append(op_key(op))
            queued.append(q)
    return tuple(keys), tuple(queued)


def _flags_in(win: Window, dataset_id: str, d: DatasetStats
              ) -> tuple[dict[str, bool | None], tuple[str, ...], tuple[int, ...]]:
    """``_sample_flags``, its keys, and 1 where a flag is set: kept with the sample for as long
    as the dataset's graph is the same (the flags read nothing else)."""
    graph = win.graph(dataset_id)
    m = win.cache.memo(d)
    kept = m.get(_flags_in)
    if kept is None or kept[0] is not graph:
        flags = _sample_flags(win, dataset_id, d)
        kept = m[_flags_in] = (graph, flags, tuple(flags), tuple(1 if f else 0 for f in flags.values()))
    return kept[1:]


def bottleneck_scores(snaps: Sequence[Snapshot], dataset_id, plans=None
                      ) -> dict[str, tuple[float, float]]:
    """op key -> (share of samples it limits throughput, mean queued blocks)."""
    return window_scores(Window(tuple(snaps), dict(plans or {})), dataset_id)


def window_scores(win: Window, dataset_id) -> dict[str, tuple[float, float]]:
    """``bottleneck_scores`` of a window's snapshots and plans."""
    rows = [(_flags_in(win, dataset_id, d), win.summary(d, _queues)) for _, d in win.running(dataset_id)]
    if rows:
        (_, keys, _), (qkeys, _) = rows[0]
        if len(set(qkeys)) == len(qkeys) and all(f[1] == keys and q[0] == qkeys for f, q in rows):
            # The same operators in every sample (as good as always): add up the columns, in
            # sample order as below, so the figures are the same to the last bit.
            n = len(rows)
            hits = [sum(col) for col in zip(*(f[2] for f, _ in rows), strict=True)]
            means = dict(zip(qkeys, [sum(col) / n for col in zip(*(q[1] for _, q in rows), strict=True)],
                             strict=True))
            return {key: (h / n, means.get(key, 0.0)) for key, h in zip(keys, hits, strict=True)}
    flags: dict[str, list[bool | None]] = {}
    queues: dict[str, list[int]] = {}
    for (sample_flags, _, _), (qkeys, queued) in rows:
        for key, flag in sample_flags.items():
            flags.setdefault(key, []).append(flag)
        for key, q in zip(qkeys, queued, strict=True):
            queues.setdefault(key, []).append(q)
    out = {}
    for key, fl in flags.items():
        score = sum(1 for f in fl if f) / len(fl) if fl else 0.0
        qs = queues.get(key, [])
        out[key] = (score, sum(qs) / len(qs) if qs else 0.0)
    return out


def find_bottleneck(snaps: Sequence[Snapshot], dataset_id, plans=None) -> str | None:
    """The op key (``OperatorStats.op_id``) that limits ``dataset_id``'s throughput over
    ``snaps``, or None. ``plans`` (dataset id -> Plan) adds a plan seen earlier than ``snaps``."""
    if not snaps:
        return None
    return window_bottleneck(Window(tuple(snaps), dict(plans or {})), dataset_id)


def window_bottleneck(win: Window, dataset_id) -> str | None:
    """``find_bottleneck`` of a window's snapshots and plans, once per window."""
    return win.once(("bottleneck", dataset_id), lambda: _bottleneck(win, dataset_id))


def _bottleneck(win: Window, dataset_id) -> str | None:
    if consumer_bound(win.running(dataset_id)) is not None:
        return None  # the consumer's loop, not an operator, limits the dataset
    scores = window_scores(win, dataset_id)
    if not scores:
        return None
    key, (score, _) = max(scores.items(), key=lambda kv: kv[1])
    return key if score >= th.BOTTLENECK_MIN_SCORE else None
