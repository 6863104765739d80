"""Rates from counters that refresh in steps.

Without the probe, an operator's cumulative figures come from the ``ray_data_*`` series Ray
exports: the driver pushes them to Ray Data's stats actor every 5 s and the actor's core worker
exports them every ``metrics_report_interval_ms`` (10 s by default). Read every second, such a
counter sits still for ~10 s and then jumps, so a rate over the last second or five is 0 most of
the time and a spike now and then. This module finds the moments the exported figures refreshed
and measures rates between them. Pure: no Ray, no clock of its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from statistics import median

DEFAULT_PERIOD_S = 10.0  # Ray's default metrics export period
STALL_PERIODS = 2.5  # no refresh for this many periods: measure up to now instead
KEEP_REFRESHES = 8


@dataclass(frozen=True)
class Refresh:
    t: float  # when the new figures were first seen (unix s)
    counters: Mapping[Hashable, float | None]  # None: a counter not read this time


class RefreshTracker:
    """Refresh points of one group of counters that Ray exports together (one dataset).

    ``observe(t, fingerprint, counters)`` is called on every read; a new ``fingerprint`` (any
    exported value changed) marks a refresh. The first observation is not a refresh: the figures
    may have been sitting there for most of a period already.
    """

    def __init__(self) -> None:
        self._fingerprint: Hashable | None = None
        self._first_seen: float | None = None
        self._refreshes: deque[Refresh] = deque(maxlen=KEEP_REFRESHES)

    def observe(self, t: float, fingerprint: Hashable, counters: Mapping[Hashable, float | None]) -> None:
        if self._first_seen is None:
            self._first_seen, self._fingerprint = t, fingerprint
            return
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self._refreshes.append(Refresh(t, dict(counters)))

    @property
    def figures_t(self) -> float | None:
        """When the figures now shown were first seen."""
        return self._refreshes[-1].t if self._refreshes else self._first_seen

    def period_s(self) -> float:
        """The typical time between refreshes (Ray's export period as seen from here)."""
        ts = [r.t for r in self._refreshes]
        gaps = [b - a for a, b in zip(ts, ts[1:], strict=False) if b > a]
        return median(gaps) if gaps else DEFAULT_PERIOD_S

    def rate(self, key: Hashable, now: float) -> float | None:
        """Change per second of counter ``key`` over the last refresh period; None until two
        refreshes were seen. When refreshes stop for ``STALL_PERIODS`` periods (a stalled
        pipeline exports unchanged figures), the span runs on to ``now``, so the rate decays
        towards 0 instead of repeating the last one for ever."""
        if len(self._refreshes) < 2:
            return None
        prev, last = self._refreshes[-2], self._refreshes[-1]
        end, start = last.counters.get(key), prev.counters.get(key)
        if end is None or start is None or end < start:
            return None
        if now - last.t > STALL_PERIODS * self.period_s():
            return (end - start) / (now - prev.t)
        return (end - start) / (last.t - prev.t)


class RefreshTrackers:
    """One tracker per group key, forgetting groups not seen for a while."""

    def __init__(self, forget_after_s: float = 600.0) -> None:
        self._trackers: dict[Hashable, RefreshTracker] = {}
        self._seen: dict[Hashable, float] = {}
        self._forget_after_s = forget_after_s

    def get(self, key: Hashable, now: float) -> RefreshTracker:
        self._seen[key] = now
        tracker = self._trackers.get(key)
        if tracker is None:
            tracker = self._trackers[key] = RefreshTracker()
        for old in [k for k, t in self._seen.items() if now - t > self._forget_after_s]:
            self._trackers.pop(old, None)
            self._seen.pop(old, None)
        return tracker
