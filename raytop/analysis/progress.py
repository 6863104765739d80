"""When each dataset last made progress: the ``stalled`` rule's memory. Pure.

A rule sees only the last ``RULE_WINDOW_S`` of snapshots, and a stall is judged over a longer
time (``STALL_S``, or ``--stall-after``), so the Advisor keeps, per running dataset, the readings
of its progress counters and when they last changed (``track``). Progress is any change in what
an operator has done: rows out, rows in (a Write's rows are its input), blocks and bytes out,
tasks finished (a filter that drops every row still finishes tasks), and the consumer's batches.
A dataset first seen with nothing done yet has made no progress since its start; one first seen
with work done, since it was first seen (raytop cannot know when it last moved before that).

The stall threshold is per Advisor; ``set_default_stall_s`` sets the one every Advisor made
afterwards takes (the commands' ``--stall-after``), and a recording made with that option keeps
it in its meta (``stall_s_of``) so its report judges the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..model import DatasetStats, Snapshot, op_key
from . import thresholds as th

META_KEY = "stall_after"  # the recording's meta key for --stall-after
_TERMINAL = ("FINISHED", "FAILED")
_default_stall_s: float | None = None


@dataclass(frozen=True)
class Progress:
    since: float  # unix s: when the counters last changed (or the dataset started, if nothing done)
    counters: tuple[Any, ...]  # the readings compared from one snapshot to the next
    known: bool  # some counter was read (all None: raytop cannot tell progress from none)


def counters(d: DatasetStats) -> tuple[Any, ...]:
    c = d.consumer
    ops = tuple((op_key(o), o.rows_out, o.rows_in, o.blocks_out, o.bytes_out, o.tasks_finished)
                for o in d.operators)
    return (d.rows_out, c.batches if c is not None else None, c.rows if c is not None else None, ops)


def _values(cs: tuple[Any, ...]):
    yield from cs[:3]
    for entry in cs[3]:
        yield from entry[1:]


def track(prev: Progress | None, t: float, d: DatasetStats) -> Progress:
    now = counters(d)
    known = any(v is not None for v in _values(now))
    if prev is None:
        done = any(v for v in _values(now))
        start = d.start_time
        since = start if not done and start is not None and start <= t else t
        return Progress(since, now, known)
    if now != prev.counters:
        return Progress(t, now, known)
    return prev


def track_all(progress: dict[str, Progress], snap: Snapshot) -> None:
    """``progress`` updated with ``snap``'s datasets; a finished or failed one is dropped."""
    for d in snap.datasets:
        if d.state in _TERMINAL:
            progress.pop(d.dataset_id, None)
        else:
            progress[d.dataset_id] = track(progress.get(d.dataset_id), snap.t, d)


def valid_stall_s(v: Any) -> float | None:
    """A stall threshold as given (option, recording meta): a finite number of seconds > 0."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) and v > 0 else None


def set_default_stall_s(seconds: float | None) -> None:
    """The stall threshold of every Advisor made from now on in this process (None: ``STALL_S``)."""
    global _default_stall_s
    _default_stall_s = valid_stall_s(seconds)


def default_stall_s() -> float:
    return _default_stall_s if _default_stall_s is not None else th.STALL_S


def stall_s_of(meta: Mapping[str, Any]) -> float | None:
    """The --stall-after a recording was made with (its meta), None when it had none."""
    return valid_stall_s(meta.get(META_KEY))
