"""object-store-pressure reads each sample once while it stays in the window: the advisor's
window moves one snapshot a tick, and re-reading every sample each tick was 8 % of raytop's CPU
under `raytop run` (py-spy)."""

from __future__ import annotations

from raytop.analysis import advisor
from raytop.analysis.rules import store
from tests.analysis import scenarios as sc


def test_each_sample_is_read_once(monkeypatch):
    calls: list[int] = []
    real = store._store_blocked
    monkeypatch.setattr(store, "_store_blocked", lambda *a: calls.append(1) or real(*a))
    history = sc.store_full(30)
    found = advisor.advise(history)
    ops = len([o for o in history[-1].datasets[0].operators if not store.is_source_op(o)])
    assert "object-store-pressure" in [s.rule for s in found]
    assert 0 < len(calls) <= ops * len(history)  # once per operator and sample, not per tick
