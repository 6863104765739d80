import json

from raytop.analysis import advisor as advisor_mod
from raytop.analysis import report_data
from raytop.analysis import rules as rules_mod
from raytop.analysis import thresholds as th
from raytop.analysis.advisor import Advisor, advise, rank
from raytop.model import Snapshot, Suggestion

from . import scenarios as sc


def _fake_rule(pattern):
    calls = iter(pattern)

    def rule(win):
        if next(calls):
            return [Suggestion(rule="spilling", severity="warning", title="t", evidence="e",
                               fix="f", dataset_id="ds_1", figures={"impact": 0.5})]
        return []
    return rule


def _drive(monkeypatch, pattern):
    monkeypatch.setattr(advisor_mod, "RULES", {"spilling": _fake_rule(pattern)})
    monkeypatch.setitem(rules_mod.RAISE_AFTER, "spilling", 3)
    adv = Advisor()
    return [bool(adv.update(Snapshot(t=float(i)))) for i in range(len(pattern))]


def test_alternating_signal_never_raises(monkeypatch):
    assert _drive(monkeypatch, [True, False] * 10) == [False] * 20


def test_raised_stays_through_flicker_and_clears_after_m_off(monkeypatch):
    pattern = [True] * 3 + [False, True] * 4 + [False] * 5
    active = _drive(monkeypatch, pattern)
    assert active[:2] == [False, False]
    assert all(active[2:11])  # flickering off never reaches 5 in a row
    assert active[11:15] == [True] * 4 and active[15] is False


def _s(rule, sev, impact):
    return Suggestion(rule=rule, severity=sev, title="", evidence="", fix="", figures={"impact": impact})


def test_ranking_severity_then_impact():
    ranked = rank([_s("small-blocks", "warning", 0.3), _s("fusion-break", "info", 0.9),
                   _s("spilling", "critical", 0.1), _s("input-starved", "warning", 0.6)])
    assert [s.rule for s in ranked] == ["spilling", "input-starved", "small-blocks", "fusion-break"]


def test_advise_keeps_one_per_key_over_a_whole_recording():
    hist = sc.healthy(10) + [s.__class__(**{**s.__dict__, "t": s.t + 10}) for s in sc.pool_undersized(30)]
    sugs = advise(hist)
    assert [s.rule for s in sugs].count("actor-pool-undersized") == 1
    # later the pool is right-sized again: the live advisor clears it, advise() still reports it
    adv = Advisor()
    for s in hist + [s.__class__(**{**s.__dict__, "t": s.t + 40}) for s in sc.healthy(30)]:
        adv.update(s)
    assert not [s for s in adv.active() if s.rule == "actor-pool-undersized"]


def test_report_data_is_json_ready():
    data = report_data(sc.fusion_break())
    text = json.dumps(data)
    assert set(data) >= {"suggestions", "plan", "datasets"}
    (s,) = [x for x in data["suggestions"] if x["rule"] == "fusion-break"]
    assert {"rule", "severity", "operator", "title", "evidence", "fix", "dataset_id", "window",
            "figures"} <= set(s)
    assert "num_cpus" in text
    assert data["plan"]["ds_1"]["reasons_known"] is True
    assert data["datasets"][0]["dataset_id"] == "ds_1"


def test_report_data_read_batch_size_is_explained_without_warning():
    from .builders import history, lop, node, op, plan_of, snap
    logical = [lop("0", "ReadRange", can_modify_num_rows=True),
               lop("1", "MapBatches", "f", inputs=["0"], batch_size=64)]
    plan = plan_of([("ReadRange", None, ["0"]), ("MapBatches(f)", None, ["1"])], logical)
    data = report_data(history(lambda i: snap(i, [op("ReadRange"), op("MapBatches(f)")], plan=plan,
                                              nodes=[node(cpus=2)]), 5))
    assert not [s for s in data["suggestions"] if s["severity"] != "info"]
    (b,) = [b for b in data["plan"]["ds_1"]["boundaries"] if not b["fused"]]
    assert b["reasons"][0]["code"] == "row-changing-upstream-batch-size" and b["fixable"] is False


def _window_sizes(monkeypatch, refresh_s: int, n: int = 40) -> list:
    """How many seconds of snapshots each rule evaluation saw, for a dataset whose figures are a
    new reading every ``refresh_s`` samples (1 s apart)."""
    from dataclasses import replace

    from .builders import op, snap

    seen = []
    monkeypatch.setattr(advisor_mod, "RULES", {"spilling": lambda win: seen.append(
        win.snaps[-1].t - win.snaps[0].t) or []})
    adv = Advisor()
    for i in range(n):
        s = snap(i, [op("MapBatches(f)")])
        d = replace(s.datasets[0], figures_t=float(i - i % refresh_s))
        adv.update(replace(s, datasets=(d,)))
    return seen


def test_sparse_readings_widen_the_rule_window(monkeypatch):
    every_second = _window_sizes(monkeypatch, 1)
    assert max(every_second) == th.RULE_WINDOW_S  # the probe's pace: the usual window
    every_10s = _window_sizes(monkeypatch, 10)
    # Ray's series pace: the window reaches back until it holds MIN_READINGS readings, <= 60 s.
    assert max(every_10s) > th.RULE_WINDOW_S
    assert max(every_10s) <= th.RULE_WINDOW_MAX_S
