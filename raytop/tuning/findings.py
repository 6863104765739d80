"""What `raytop tune` may try after a trial: the advisor's findings, then its near misses.

The live advisor raises a finding only when its rule held in a 15-s window for a few evaluations
in a row (``analysis/advisor.py``): right for a user watching a dashboard, too strict for tune.
A borderline problem - the GPU demo's starved model actor idle in 56 % of the samples over the
recording, against the rule's 60 % - is raised late or not at all in a trial cut at
``--trial-seconds``, and then tune has nothing to try although the fix is known. Tune can afford
to be less sure: every candidate is measured, and one that does not help is dropped. So a rule
that held in at least one evaluation of the trial is a near miss, tried after the findings.
Pure: snapshots in, suggestions out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from raytop.analysis import thresholds as th
from raytop.analysis.rules import RULES
from raytop.analysis.window import SnapCache, Window
from raytop.model import Plan, Snapshot, Suggestion

Key = tuple[str, str | None, str | None]


def _key(s: Suggestion) -> Key:
    return s.rule, s.dataset_id, s.op_id or s.operator


def near_misses(snaps: Sequence[Snapshot]) -> tuple[Suggestion, ...]:
    """Every suggestion a rule made in some evaluation over ``snaps`` (the last
    ``RULE_WINDOW_S`` seconds at each snapshot, no hysteresis): those that held in the most
    evaluations first, each with its latest evidence."""
    ordered = sorted(snaps, key=lambda s: s.t)
    plans: dict[str, Plan] = {}
    cache = SnapCache()
    held: dict[Key, int] = {}
    latest: dict[Key, Suggestion] = {}
    start = 0
    for end, snap in enumerate(ordered):
        for d in snap.datasets:
            if d.plan is not None:
                plans[d.dataset_id] = d.plan
        while snap.t - ordered[start].t > th.RULE_WINDOW_S:
            start += 1
        recent = tuple(ordered[start:end + 1])
        cache.retain(recent, keep=tuple(plans.values()))
        win = Window(recent, dict(plans), cache=cache)
        for fn in RULES.values():
            try:
                found = fn(win)
            except Exception:  # noqa: BLE001 - the advisor's findings stand without this one
                continue
            for s in found:
                held[_key(s)] = held.get(_key(s), 0) + 1
                latest[_key(s)] = s
    return tuple(sorted(latest.values(), key=lambda s: -held[_key(s)]))


def merge(groups: Iterable[Sequence[Suggestion]]) -> tuple[Suggestion, ...]:
    """One suggestion per (rule, dataset, operator), the first seen, in the order given."""
    seen: dict[Key, Suggestion] = {}
    for group in groups:
        for s in group:
            seen.setdefault(_key(s), s)
    return tuple(seen.values())


__all__ = ["merge", "near_misses"]
