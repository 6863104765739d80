"""Which operator limits a dataset's throughput.

In a streaming pipeline a slow operator shows up as work piling up *in front of it* while it is
fully busy: its input queue (external + internal) holds blocks, all of its actors are busy (or its
tasks are running), and it is not itself held back by output backpressure (that would mean the
slowness is further downstream). The first operator after the input buffer always has its read
tasks queued, so for it a backlog only counts while it is not backpressured at all.

An operator's score is the share of samples (dataset running, past start-up) in which all of this
holds; the highest score wins, ties go to the longer average backlog. Below
``BOTTLENECK_MIN_SCORE`` there is no clear bottleneck and the answer is None.

Graphs: operators are told apart by op id, and "first" means first on its branch (reading an input
buffer). A zip or join waits for its slowest input: while one of its inputs is still produced by a
busy operator that is not held back by its own output, the merge is waiting, not limiting, and
the slowest such input branch (the least of its rows done) is credited instead, unless an
operator further up that branch already limits in that sample.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from ..model import DatasetStats, OperatorStats, Snapshot, op_key
from ..plan_graph import PlanGraph
from . import thresholds as th
from .history import Window, busy_actors, is_source_op, queued_blocks


def _out_held(op: OperatorStats) -> bool:
    return any(b.startswith("outputs:") for b in op.backpressure)


def _busy(op: OperatorStats) -> bool:
    if op.actors is not None:
        return (busy_actors(op) or 0) >= 1
    return (op.tasks_running or 0) >= 1


def _limiting(op: OperatorStats, first: bool) -> Optional[bool]:
    q = queued_blocks(op)
    if q is None:
        return None
    if q < 1:
        return False
    if _out_held(op):
        return False
    if first and op.backpressure:
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


def _branch(win: Window, ds_id: str, key: str) -> List[str]:
    """``key`` and every real operator above it."""
    out, todo = [], [key]
    while todo:
        k = todo.pop()
        if k not in out:
            out.append(k)
            todo.extend(win.upstreams_of(ds_id, k))
    return out


def _credit_waited_on(win: Window, ds_id: str, graph: PlanGraph, ops: Dict[str, OperatorStats],
                      flags: Dict[str, Optional[bool]]) -> None:
    """A merge with inputs still being produced waits for them: it is not the bottleneck; its
    slowest still-working input branch is (see the module docstring)."""
    for key in list(flags):
        if not graph.is_merge(key) or not (queued_blocks(ops[key]) or 0):
            continue
        feeding = [ops[k] for k in win.upstreams_of(ds_id, key) if k in ops]
        waited = [f for f in feeding if f.state != "FINISHED" and _busy(f) and not _out_held(f)]
        if not waited:
            continue
        flags[key] = False
        slowest = min(waited, key=_done_fraction)
        chain = _branch(win, ds_id, op_key(slowest))
        if not any(flags.get(k) for k in chain):
            flags[op_key(slowest)] = True


def _sample_flags(win: Window, ds_id: str, d: DatasetStats) -> Dict[str, Optional[bool]]:
    graph = win.graph(ds_id)
    ops = [o for o in d.operators if not is_source_op(o)]
    by_key = {op_key(o): o for o in ops}
    flags: Dict[str, Optional[bool]] = {}
    for i, op in enumerate(ops):
        key = op_key(op)
        if graph is not None and graph.edges_known:
            first = not graph.upstream(key)
        else:
            first = i == 0
        flags[key] = _limiting(op, first)
    if graph is not None and graph.edges_known:
        _credit_waited_on(win, ds_id, graph, by_key, flags)
    return flags


def bottleneck_scores(snaps: Sequence[Snapshot], dataset_id, plans=None
                      ) -> Dict[str, Tuple[float, float]]:
    """op key -> (share of samples it limits throughput, mean queued blocks)."""
    win = Window(tuple(snaps), dict(plans or {}))
    flags: Dict[str, List[Optional[bool]]] = {}
    queues: Dict[str, List[int]] = {}
    for _, d in win.running(dataset_id):
        for key, flag in _sample_flags(win, dataset_id, d).items():
            flags.setdefault(key, []).append(flag)
        for op in d.operators:
            q = queued_blocks(op)
            if q is not None and not is_source_op(op):
                queues.setdefault(op_key(op), []).append(q)
    out = {}
    for key, fl in flags.items():
        score = sum(1 for f in fl if f) / len(fl) if fl else 0.0
        qs = queues.get(key, [])
        out[key] = (score, sum(qs) / len(qs) if qs else 0.0)
    return out


def find_bottleneck(snaps: Sequence[Snapshot], dataset_id, plans=None) -> Optional[str]:
    """The op key (``OperatorStats.op_id``) that limits ``dataset_id``'s throughput over
    ``snaps``, or None. ``plans`` (dataset id -> Plan) adds a plan seen earlier than ``snaps``."""
    if not snaps:
        return None
    scores = bottleneck_scores(snaps, dataset_id, plans)
    if not scores:
        return None
    key, (score, _) = max(scores.items(), key=lambda kv: kv[1])
    return key if score >= th.BOTTLENECK_MIN_SCORE else None
