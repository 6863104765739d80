"""Which operator limits a dataset's throughput.

In a streaming pipeline a slow operator shows up as work piling up *in front of it* while it is
fully busy: its input queue (external + internal) holds blocks, all of its actors are busy (or its
tasks are running), and it is not itself held back by output backpressure (that would mean the
slowness is further downstream). The first operator after the input buffer always has its read
tasks queued, so for it a backlog only counts while it is not backpressured at all.

An operator's score is the share of samples (dataset running, past start-up) in which all of this
holds; the highest score wins, ties go to the longer average backlog. Below
``BOTTLENECK_MIN_SCORE`` there is no clear bottleneck and the answer is None.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from ..model import OperatorStats, Snapshot
from . import thresholds as th
from .history import Window, busy_actors, is_source_op, queued_blocks


def _limiting(op: OperatorStats, first: bool) -> Optional[bool]:
    q = queued_blocks(op)
    if q is None:
        return None
    if q < 1:
        return False
    if any(b.startswith("outputs:") for b in op.backpressure):
        return False
    if first and op.backpressure:
        return False
    if op.actors is not None:
        busy = busy_actors(op)
        if busy is None:
            return None
        return busy >= 1 and not (op.actors.idle or 0)
    return (op.tasks_running or 0) >= 1


def bottleneck_scores(snaps: Sequence[Snapshot], dataset_id) -> Dict[str, Tuple[float, float]]:
    """operator name -> (share of samples it limits throughput, mean queued blocks)."""
    win = Window(tuple(snaps))
    flags: Dict[str, List[Optional[bool]]] = {}
    queues: Dict[str, List[int]] = {}
    for _, d in win.running(dataset_id):
        ops = [o for o in d.operators if not is_source_op(o)]
        for i, op in enumerate(ops):
            flags.setdefault(op.name, []).append(_limiting(op, i == 0))
            q = queued_blocks(op)
            if q is not None:
                queues.setdefault(op.name, []).append(q)
    out = {}
    for name, fl in flags.items():
        known = [f for f in fl if f is not None]
        score = sum(1 for f in known if f) / len(fl) if fl else 0.0
        qs = queues.get(name, [])
        out[name] = (score, sum(qs) / len(qs) if qs else 0.0)
    return out


def find_bottleneck(snaps: Sequence[Snapshot], dataset_id) -> Optional[str]:
    """The operator name that limits ``dataset_id``'s throughput over ``snaps``, or None."""
    if not snaps:
        return None
    scores = bottleneck_scores(snaps, dataset_id)
    if not scores:
        return None
    name, (score, _) = max(scores.items(), key=lambda kv: kv[1])
    return name if score >= th.BOTTLENECK_MIN_SCORE else None
