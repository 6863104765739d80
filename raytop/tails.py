"""Distributions behind an operator's means: percentiles of task time and block size from Ray
Data's histograms, and the tasks running far longer than the rest (stragglers).

Pure: imports neither Ray nor Textual. Part of the snapshot model (``OperatorStats.tails``); a
value that could not be read is ``None``, never 0. Percentiles come from bucket counts and are
interpolated linearly inside the bucket they fall in: they are only as fine as Ray's buckets
(0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 15, ... s; 1, 8, 64, 128, ... KiB; 1, 5, 10, 25, ... rows).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class Percentiles:
    """p50/p90/p99 of one histogram, at bucket resolution. A percentile that falls in the open
    top bucket (above Ray's largest bound) reads as that bound: a lower bound."""

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    count: int | None = None  # observations in the histogram (0: none yet, percentiles None)


@dataclass(frozen=True)
class SlowTask:
    """A task of the operator still running, among its longest-running ones."""

    age_s: float | None = None  # since Ray Data submitted it (what its completion time counts)
    running_s: float | None = None  # since it started running on a worker (Ray's task events)
    node_id: str | None = None  # hex id of the node it runs on; None: not known (yet)
    worker_pid: int | None = None
    task_index: int | None = None  # Ray Data's index of the task within the operator


@dataclass(frozen=True)
class OperatorTails:
    task_s: Percentiles | None = None  # wall time of finished tasks (submission to completion)
    block_bytes: Percentiles | None = None  # size of the blocks the operator produced
    block_rows: Percentiles | None = None
    # Running tasks older than the probe's candidate limit (docs/snapshot.md, "Tails"), oldest
    # first, at most ``SLOW_TASKS_MAX``; None: running tasks cannot be read (no probe).
    slow_tasks: tuple[SlowTask, ...] | None = None
    slow_task_count: int | None = None  # all running tasks over that limit (may exceed the list)


SLOW_TASKS_MAX = 8


def quantiles(bounds: Sequence[float], counts: Sequence[float],
              qs: Sequence[float] = QUANTILES) -> list[float | None]:
    """The quantiles ``qs`` (ascending, 0 < q <= 1) of a histogram in one pass: ``counts[i]``
    observations in ``(bounds[i-1], bounds[i]]`` (from 0 for ``i == 0``), ``counts[len(bounds)]``
    above the last bound. Linear inside the bucket, like Prometheus' ``histogram_quantile``;
    None when empty."""
    total = sum(counts)
    if total <= 0 or not bounds or len(counts) != len(bounds) + 1:
        return [None] * len(qs)
    out: list[float | None] = []
    below, i = 0.0, 0
    for q in qs:
        rank = q * total
        while i < len(bounds) and below + counts[i] < rank:
            below += counts[i]
            i += 1
        if i == len(bounds):
            out.append(float(bounds[-1]))  # the open top bucket: all we know is "above this"
            continue
        lo = float(bounds[i - 1]) if i > 0 else 0.0
        n = counts[i]
        out.append(lo + (float(bounds[i]) - lo) * max(0.0, rank - below) / n if n > 0 else lo)
    return out


def percentile(bounds: Sequence[float], counts: Sequence[float], q: float) -> float | None:
    return quantiles(bounds, counts, (q,))[0]


def from_counts(bounds: Sequence[float], counts: Sequence[float]) -> Percentiles | None:
    """Percentiles of per-bucket counts (Ray's in-driver ``RuntimeMetricsHistogram``); None when
    the counts do not fit the bounds."""
    if len(counts) != len(bounds) + 1 or any(not math.isfinite(c) or c < 0 for c in counts):
        return None
    p50, p90, p99 = quantiles(bounds, counts)
    return Percentiles(p50=p50, p90=p90, p99=p99, count=int(sum(counts)))


def from_cumulative(pairs: Iterable[tuple[float, float]]) -> Percentiles | None:
    """Percentiles of a Prometheus histogram's ``_bucket`` series: (``le``, cumulative count)
    pairs, ``le`` = inf for the ``+Inf`` bucket. None without the ``+Inf`` bucket."""
    ordered = sorted(pairs)
    if not ordered or not math.isinf(ordered[-1][0]):
        return None
    bounds = [le for le, _ in ordered[:-1]]
    counts, before = [], 0.0
    for _, cumulative in ordered:
        counts.append(max(0.0, cumulative - before))  # a bucket read mid-export never goes below 0
        before = max(before, cumulative)
    return from_counts(bounds, counts)
