"""The tuning advisor: runs every rule over a sliding window, with hysteresis.

A suggestion is keyed by (rule, dataset, operator id): two operators of one name are two keys. It is raised after the rule held for
``RAISE_AFTER[rule]`` consecutive evaluations and cleared after ``CLEAR_AFTER`` consecutive
evaluations without it, so a signal that flickers on and off does not make it flap.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Deque, Dict, Optional, Sequence, Tuple

from ..model import Plan, Snapshot, Suggestion
from . import thresholds as th
from .rules import RULES, SEVERITY_RANK, raise_after, rank_key
from .window import SnapCache, Window

Key = Tuple[str, Optional[str], Optional[str]]


@dataclass
class _Track:
    on: int = 0
    off: int = 0
    active: bool = False
    last: Optional[Suggestion] = None  # the latest evidence while on
    best: Optional[Suggestion] = None  # the strongest evidence while active


def _key_order(key: Key) -> Tuple[str, str, str]:
    return tuple(k or "" for k in key)


def _stronger(a: Suggestion, b: Optional[Suggestion]) -> bool:
    if b is None:
        return True
    ka = (-SEVERITY_RANK.get(a.severity, 3), a.figures.get("impact", 0.0))
    kb = (-SEVERITY_RANK.get(b.severity, 3), b.figures.get("impact", 0.0))
    return ka >= kb  # ties: the later, wider-window evidence


class Advisor:
    def __init__(self) -> None:
        self._snaps: Deque[Snapshot] = deque(maxlen=th.HISTORY_MAX_SNAPSHOTS)
        self._plans: Dict[str, Plan] = {}
        self._tracks: Dict[Key, _Track] = {}
        self._cache = SnapCache()  # per-snapshot readings, kept while a snapshot is in the window
        self.errors: Dict[str, str] = {}  # rule id -> last exception, so one bad rule can't stop the rest

    def update(self, snap: Snapshot) -> Tuple[Suggestion, ...]:
        self._snaps.append(snap)
        while self._snaps and snap.t - self._snaps[0].t > th.HISTORY_S:
            self._snaps.popleft()
        for d in snap.datasets:
            if d.plan is not None:
                self._plans[d.dataset_id] = d.plan
        recent = tuple(s for s in self._snaps if snap.t - s.t <= th.RULE_WINDOW_S)
        self._cache.retain(recent, keep=tuple(self._plans.values()))
        win = Window(recent, dict(self._plans), cache=self._cache)
        found: Dict[Key, Suggestion] = {}
        for rid, fn in RULES.items():
            try:
                for s in fn(win):
                    found[(s.rule, s.dataset_id, s.op_id or s.operator)] = s
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

    def active(self) -> Tuple[Suggestion, ...]:
        return rank([t.last for t in self._tracks.values() if t.active and t.last is not None])

    def ever_active(self) -> Tuple[Suggestion, ...]:
        return rank([t.best for t in self._tracks.values() if t.best is not None])


def rank(suggestions: Sequence[Suggestion]) -> Tuple[Suggestion, ...]:
    """critical > warning > info, then by impact score."""
    return tuple(sorted(suggestions, key=rank_key))


def advise(history: Sequence[Snapshot]) -> Tuple[Suggestion, ...]:
    """Every suggestion that became active at some point of ``history``, one per
    (rule, dataset, operator), with its strongest evidence; ranked like ``Advisor.update``."""
    adv = Advisor()
    for snap in sorted(history, key=lambda s: s.t):
        adv.update(snap)
    return adv.ever_active()


def suggestion_to_dict(s: Suggestion) -> dict:
    return {"rule": s.rule, "severity": s.severity, "operator": s.operator, "op_id": s.op_id,
            "title": s.title,
            "evidence": s.evidence, "fix": s.fix, "dataset_id": s.dataset_id,
            "window": list(s.window) if s.window else None, "figures": dict(s.figures)}


__all__ = ["Advisor", "advise", "rank", "suggestion_to_dict"]
