"""The consumer's loop over a dataset, from Ray Data's iterator figures (``ConsumerStats``): how
its time splits between its own code and waiting for the pipeline. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..format import fmt_count, fmt_seconds, fmt_share
from ..model import ConsumerStats, DatasetStats, Snapshot
from . import thresholds as th


@dataclass(frozen=True)
class ConsumerSpan:
    """What the consumer did between two samples: seconds in its own code and waiting."""

    user_s: float
    blocked_s: float
    batches: int | None

    @property
    def total_s(self) -> float:
        return self.user_s + self.blocked_s

    @property
    def user_share(self) -> float | None:
        return self.user_s / self.total_s if self.total_s > 0 else None


def _times(c: ConsumerStats | None) -> tuple[float, float] | None:
    """``(user_s, blocked_s)`` of ``c``, None until both are known."""
    if c is None or c.user_s is None or c.blocked_s is None:
        return None
    return c.user_s, c.blocked_s


def consumer_span(samples: Sequence[tuple[Snapshot, DatasetStats]]) -> ConsumerSpan | None:
    """The consumer's activity from the first to the last sample that has its figures."""
    known = [(c, t) for _, d in samples if (c := d.consumer) is not None and (t := _times(c)) is not None]
    if len(known) < 2:
        return None
    (a, (a_user, a_blocked)), (b, (b_user, b_blocked)) = known[0], known[-1]
    batches = b.batches - a.batches if a.batches is not None and b.batches is not None else None
    return ConsumerSpan(max(0.0, b_user - a_user), max(0.0, b_blocked - a_blocked), batches)


def consumer_bound(samples: Sequence[tuple[Snapshot, DatasetStats]]) -> ConsumerSpan | None:
    """The span, when the loop's own code took ``CONSUMER_USER_SHARE`` of at least
    ``CONSUMER_MIN_S`` consumer seconds: the consumer, not an operator, is the slow part."""
    span = consumer_span(samples)
    if span is None or span.total_s < th.CONSUMER_MIN_S:
        return None
    return span if (span.user_share or 0) >= th.CONSUMER_USER_SHARE else None


def consumer_summary(c: ConsumerStats | None) -> str | None:
    """The consumer's figures in one line (TUI overview, report), None when nothing iterates."""
    times = _times(c)
    if c is None or times is None:
        return None
    total = times[0] + times[1]
    if total <= 0:
        return None
    user = times[0] / total
    verdict = ("its own code is the slow part" if user >= th.CONSUMER_USER_SHARE else
               "it waits for the pipeline: the bottleneck operator limits it"
               if user <= 1 - th.CONSUMER_USER_SHARE else "balanced")
    first = f", first batch after {fmt_seconds(c.first_batch_s)}" if c.first_batch_s is not None else ""
    return (f"consumer: {fmt_share(user)} in its own code, {fmt_share(1 - user)} waiting for "
            f"the pipeline, {fmt_count(c.batches)} batches, {fmt_count(c.rows)} rows{first}: {verdict}")
