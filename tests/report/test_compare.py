"""--baseline: before -> after figures for two hand-built recordings match values by hand."""

from __future__ import annotations

import json

import pytest

from raytop.report import write_report
from raytop.report.compare import compare

MiB = 1 << 20


@pytest.fixture
def comparison(workdir):
    out = write_report(workdir / "after.raytop", workdir / "cmp.json", None,
                       baseline=workdir / "before.raytop")
    return json.loads(out.read_text())["comparison"]


def test_metrics_before_after(comparison):
    m = {x["key"]: x for x in comparison["metrics"]}
    assert comparison["baseline"] == "before.raytop" and comparison["current"] == "after.raytop"
    assert m["rows_per_s"]["before"] == pytest.approx(100.0)
    assert m["rows_per_s"]["after"] == pytest.approx(200.0)
    assert m["rows_per_s"]["change_percent"] == pytest.approx(100.0)
    assert m["rows_per_s"]["verdict"] == "better"
    assert (m["duration_s"]["before"], m["duration_s"]["after"]) == (pytest.approx(10.0),
                                                                      pytest.approx(5.0))
    assert m["duration_s"]["delta"] == pytest.approx(-5.0)
    assert m["duration_s"]["verdict"] == "better"
    # mean over the snapshots where the dataset RUNNING (the final FINISHED one is excluded)
    assert m["gpu_util_mean"]["before"] == pytest.approx(30.0)  # 20, 40, ... over i = 0..9
    assert m["gpu_util_mean"]["after"] == pytest.approx(68.0)  # 60, 80, 60, 80, 60
    assert m["spilled_bytes_max"]["before"] == 512 * MiB
    assert m["spilled_bytes_max"]["after"] == 0
    assert m["spilled_bytes_max"]["change_percent"] == pytest.approx(-100.0)


def test_operator_throughput_before_after(comparison):
    ops = {o["name"]: o for o in comparison["operators"]}
    pre, model = ops["ReadRange->MapBatches(pre)"], ops["MapBatches(Model)"]
    assert pre["before"] == pytest.approx(200.0) and pre["after"] == pytest.approx(1000 / 3)
    assert model["before"] == pytest.approx(100.0) and model["after"] == pytest.approx(200.0)
    assert model["change_percent"] == pytest.approx(100.0)


def test_spilling_suggestion_disappears(comparison):
    gone = [(s["rule"]) for s in comparison["suggestions"]["disappeared"]]
    assert "spilling" in gone  # 64 MiB/s of spilling in the baseline, none after
    assert all(s["rule"] != "spilling" for s in comparison["suggestions"]["appeared"])


def _doc(rows_per_s, suggestions, ops):
    summary = {"recording": "x", "rows_per_s": rows_per_s, "duration_s": 10.0, "active_s": None,
               "rows": None, "gpu_util_mean": None, "spilled_bytes_max": None}
    return {"summary": summary, "suggestions": suggestions,
            "operators": [{"name": n, "rows_per_s": r} for n, r in ops]}


def test_compare_matches_suggestions_and_duplicate_operator_names():
    spill = {"rule": "spilling", "severity": "warning", "operator": None, "title": "Spills"}
    fusion = {"rule": "fusion-break", "severity": "info", "operator": "Map(b)", "title": "Fuse"}
    before = _doc(50.0, [spill], [("Map(a)", 10.0), ("Map(a)", 20.0)])
    after = _doc(None, [fusion], [("Map(a)", 15.0), ("Write", 5.0)])
    c = compare(before, after)
    assert [s["rule"] for s in c["suggestions"]["disappeared"]] == ["spilling"]
    assert [s["rule"] for s in c["suggestions"]["appeared"]] == ["fusion-break"]
    assert c["suggestions"]["remaining"] == []
    rate = next(m for m in c["metrics"] if m["key"] == "rows_per_s")
    assert rate["after"] is None and rate["delta"] is None and rate["verdict"] is None
    ops = {o["name"]: o for o in c["operators"]}
    assert ops["Map(a)"]["delta"] == pytest.approx(5.0)
    assert ops["Map(a) (#2)"]["in_current"] is False and ops["Map(a) (#2)"]["after"] is None
    assert ops["Write"]["in_baseline"] is False
