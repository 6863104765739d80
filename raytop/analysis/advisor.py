"""The tuning advisor: runs every rule over a sliding window, with hysteresis.

A suggestion is keyed by (rule, dataset, operator id): two operators of one name are two keys.
It is raised after the rule held for ``RAISE_AFTER[rule]`` consecutive evaluations and cleared
after ``CLEAR_AFTER`` consecutive evaluations without it, so a signal that flickers on and off does
not make it flap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from ..model import Plan, Snapshot, Suggestion
from . import thresholds as th
from .progress import Progress, default_stall_s, track_all
from .rules import RULES, SEVERITY_RANK, raise_after, rank_key
from .window import SnapCache, Window

Key = tuple[str, str | None, str | None]


@dataclass
class _Track:
    on: int = 0
    off: int = 0
    active: bool = False
    last: Suggestion | None = None  # the latest evidence while on
    best: Suggestion | None = None  # the strongest evidence while active


def _key_order(key: Key) -> tuple[str, str, str]:
    return key[0], key[1] or "", key[2] or ""


def _stronger(a: Suggestion, b: Suggestion | None) -> bool:
    if b is None:
        return True
    ka = (-SEVERITY_RANK.get(a.severity, 3), a.figures.get("impact", 0.0))
    kb = (-SEVERITY_RANK.get(b.severity, 3), b.figures.get("impact", 0.0))
    return ka >= kb  # ties: the later, wider-window evidence


class Advisor:
    def __init__(self, stall_s: float | None = None) -> None:
        self.stall_s = stall_s if stall_s is not None else default_stall_s()
        self._progress: dict[str, Progress] = {}  # for ``stalled``: when each dataset last moved
        self._snaps: deque[Snapshot] = deque(maxlen=th.HISTORY_MAX_SNAPSHOTS)
        self._plans: dict[str, Plan] = {}
        self._tracks: dict[Key, _Track] = {}
        self._cache = SnapCache()  # per-snapshot readings, kept while a snapshot is in the window
        self.errors: dict[str, str] = {}  # rule id -> last exception, so one bad rule can't stop the rest

    def update(self, snap: Snapshot) -> tuple[Suggestion, ...]:
        self._snaps.append(snap)
        while self._snaps and snap.t - self._snaps[0].t > th.HISTORY_S:
            self._snaps.popleft()
        for d in snap.datasets:
            if d.plan is not None:
                self._plans[d.dataset_id] = d.plan
        track_all(self._progress, snap)
        recent = self._rule_window(snap)
        self._cache.retain(recent, keep=tuple(self._plans.values()))
        win = Window(recent, dict(self._plans), progress=dict(self._progress),
                     stall_s=self.stall_s, cache=self._cache)
        found: dict[Key, Suggestion] = {}
        for rid, fn in RULES.items():
            try:
                for sg in fn(win):
                    found[(sg.rule, sg.dataset_id, sg.op_id or sg.operator)] = sg
            except Exception as e:  # noqa: BLE001 - a rule bug must not take the live view down
                self.errors[rid] = f"{type(e).__name__}: {e}"
        # In a fixed order: the same snapshots always give the same tracks, in the same order.
        for key in sorted(set(self._tracks) | set(found), key=_key_order):
            tr = self._tracks.setdefault(key, _Track())
            s = found.get(key)
            if s is not None:
                tr.on, tr.off, tr.last = tr.on + 1, 0, s
                if not tr.active and tr.on >= raise_after(s):
                    tr.active = True
            else:
                tr.on, tr.off = 0, tr.off + 1
                if tr.active and tr.off >= th.CLEAR_AFTER:
                    tr.active = False
            if tr.active and tr.last is not None and (s is not None) and _stronger(s, tr.best):
                tr.best = s
        return self.active()

    def _rule_window(self, snap: Snapshot) -> tuple[Snapshot, ...]:
        """The last ``RULE_WINDOW_S`` seconds, reaching further back (up to ``RULE_WINDOW_MAX_S``)
        while a running dataset has fewer than ``MIN_READINGS`` distinct readings in it."""
        recent = tuple(s for s in self._snaps if snap.t - s.t <= th.RULE_WINDOW_S)
        if all(_readings(recent, d.dataset_id) >= th.MIN_READINGS for d in snap.datasets
               if d.state == "RUNNING" and d.figures_t is not None):
            return recent
        return tuple(s for s in self._snaps if snap.t - s.t <= th.RULE_WINDOW_MAX_S)

    def active(self) -> tuple[Suggestion, ...]:
        return rank([t.last for t in self._tracks.values() if t.active and t.last is not None])

    def ever_active(self) -> tuple[Suggestion, ...]:
        return rank([t.best for t in self._tracks.values() if t.best is not None])


def _readings(snaps: Sequence[Snapshot], dataset_id: str) -> int:
    """Distinct readings of a dataset's figures among ``snaps`` (its ``figures_t`` values)."""
    return len({d.figures_t for s in snaps for d in s.datasets if d.dataset_id == dataset_id})


def rank(suggestions: Sequence[Suggestion]) -> tuple[Suggestion, ...]:
    """critical > warning > info, then by impact score."""
    return tuple(sorted(suggestions, key=rank_key))


def advise(history: Sequence[Snapshot], stall_s: float | None = None) -> tuple[Suggestion, ...]:
    """Every suggestion that became active at some point of ``history``, one per
    (rule, dataset, operator), with its strongest evidence; ranked like ``Advisor.update``.
    ``stall_s``: the stall threshold (a recording's --stall-after), else the default."""
    adv = Advisor(stall_s)
    for snap in sorted(history, key=lambda s: s.t):
        adv.update(snap)
    return adv.ever_active()


def suggestion_to_dict(s: Suggestion) -> dict:
    return {"rule": s.rule, "severity": s.severity, "operator": s.operator, "op_id": s.op_id,
            "title": s.title,
            "evidence": s.evidence, "fix": s.fix, "dataset_id": s.dataset_id,
            "window": list(s.window) if s.window else None, "figures": dict(s.figures)}


__all__ = ["Advisor", "advise", "rank", "suggestion_to_dict"]
