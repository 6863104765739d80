"""The keep-or-drop rule of `raytop tune` and the fixes it can try, on hand-made figures."""

from __future__ import annotations

import pytest

from raytop.model import DatasetStats, Snapshot, Suggestion
from raytop.tuning.candidates import next_candidate, overrides_of
from raytop.tuning.decide import compare
from raytop.tuning.trials import steady_rate


def test_a_change_faster_in_every_trial_is_kept():
    v = compare([100, 104], [150, 160])
    assert v.keep and v.ratio == pytest.approx(155 / 102) and v.low == pytest.approx(150 / 104)


def test_a_change_inside_the_noise_is_dropped():
    v = compare([100, 130], [120, 125])  # median gain ×1.06, but one trial is not faster
    assert not v.keep and "within the noise" in v.why


def test_a_small_gain_in_every_trial_is_still_dropped():
    v = compare([100, 101], [102, 103])  # always faster, but by 2 %
    assert not v.keep


def test_a_slower_change_is_dropped_and_said_so():
    v = compare([100, 105], [70, 75])
    assert not v.keep and v.why.startswith("slower in every trial")


def test_a_failed_trial_is_no_evidence():
    v = compare([100, 100], [150, None])
    assert not v.keep and v.ratio is None and "measured no throughput" in v.why


def _s(fix: str, severity: str = "warning") -> Suggestion:
    return Suggestion(rule="r", severity=severity, title="t", evidence="e", fix=fix)


@pytest.mark.parametrize("fix, settings", [
    ("ds.map_batches(preprocess, compute=TaskPoolStrategy(size=4), ...)  # now size=2",
     ["MapBatches(preprocess).concurrency=4"]),
    ("ds.map_batches(Embedder, compute=ActorPoolStrategy(min_size=1, max_size=2), ...)  # now 1",
     ["MapBatches(Embedder).concurrency=1-2"]),
    ("ds.map_batches(Classifier, batch_size=512, ...)  # now batch_size=256",
     ["MapBatches(Classifier).batch_size=512"]),
    ("ds.map_batches(Model, num_cpus=0.25, ...)  # now 1", ["MapBatches(Model).num_cpus=0.25"]),
    ("ray.data.range(..., override_num_blocks=40)  # now 600", ["ReadRange.override_num_blocks=40"]),
    ("ray.data.read_parquet(..., override_num_blocks=<more blocks>)", None),
    ("more CPUs for decode, or a cheaper decode", None),
])
def test_fixes_as_overrides(fix, settings):
    found = overrides_of(_s(fix))
    assert (None if found is None else [o.text for o in found]) == settings


def test_the_first_untried_fix_that_can_be_applied_is_next():
    findings = [_s("more CPUs for decode"),
                _s("ds.map_batches(decode, num_cpus=0.5, ...)"),
                _s("ds.map_batches(Model, batch_size=64, ...)")]
    finding, overrides = next_candidate(findings, tried=[])
    assert [o.text for o in overrides] == ["MapBatches(decode).num_cpus=0.5"]
    finding, overrides = next_candidate(findings, tried=["MapBatches(decode).num_cpus=0.5"])
    assert [o.text for o in overrides] == ["MapBatches(Model).batch_size=64"]
    assert next_candidate(findings, tried=["MapBatches(decode).num_cpus=0.5",
                                           "MapBatches(Model).batch_size=64"]) is None


def _snap(t, rows, state="RUNNING"):
    return Snapshot(t=t, datasets=(DatasetStats(dataset_id="d", state=state, rows_out=rows),))


def test_steady_rate_leaves_the_warm_up_out():
    snaps = [_snap(0, 0), _snap(5, 0), _snap(10, 100), _snap(20, 1100), _snap(30, 2100),
             _snap(31, 2100, "FINISHED")]
    rate, gpu, judged = steady_rate(snaps, warmup_s=10)
    assert rate == pytest.approx(100.0) and judged == 20 and gpu is None


def test_a_change_to_a_kept_setting_replaces_it():
    from raytop.tuning.tune import combine

    kept = ("MapBatches(fetch).concurrency=4", "MapBatches(Model).batch_size=64")
    assert combine(kept, ["MapBatches(fetch).concurrency=8"]) == (
        "MapBatches(Model).batch_size=64", "MapBatches(fetch).concurrency=8")
    assert combine((), ["ReadRange.override_num_blocks=40"]) == ("ReadRange.override_num_blocks=40",)


def test_the_running_trials_rate_is_read_from_its_recording_as_it_grows(tmp_path):
    from raytop.recording import RecordingWriter
    from raytop.tuning.trials import _Watch

    path = tmp_path / "trial.raytop"
    watch = _Watch(path, warmup_s=0)
    assert watch.rate() is None  # not there yet: no figure
    with RecordingWriter(path, meta={"command": ["raytop", "test"]}) as writer:
        writer.snapshot(_snap(0, 0))
        assert watch.rate() is None  # one running sample: no rate yet
        writer.snapshot(_snap(10, 1000))
        assert watch.rate() == pytest.approx(100.0)
        writer.snapshot(_snap(20, 3000))
        assert watch.rate() == pytest.approx(150.0) and len(watch.snaps) == 3
    watch.close()


def test_a_busy_machine_is_said_with_the_verdict():
    from raytop.tuning.decide import busy_note

    assert busy_note([7.0, 38.2, 24.0], cpus=2) == (
        "; the machine was busy (load average 7..38 on 2 CPUs during these trials): "
        "measure again when it is quieter")
    assert busy_note([1.5, 3.9], cpus=2) == ""  # at most 2 per CPU: not busy
    assert busy_note([None, None], cpus=2) == ""  # unknown: nothing said


def test_the_code_to_paste_leaves_out_a_kept_change_replaced_later():
    from raytop.commands.tune import code_to_paste
    from raytop.tuning.tune import Round, TuneResult

    def kept(size: int) -> Round:
        fix = _s(f"ds.map_batches(fetch, compute=TaskPoolStrategy(size={size}), ...)  # now")
        return Round((f"MapBatches(fetch).concurrency={size}",), fix, (), (),
                     compare([100, 100], [150, 150]))

    result = TuneResult(kept=[kept(4), kept(8)])
    assert code_to_paste(result) == [
        "ds.map_batches(fetch, compute=TaskPoolStrategy(size=8), ...)  # raytop tune: "
        "×1.50 rows/s (×1.50..×1.50)"]


def test_the_code_to_paste_gives_every_call_of_a_fix_of_several():
    from raytop.commands.tune import code_to_paste
    from raytop.tuning.tune import Round, TuneResult

    fix = _s("ds.map_batches(decode, compute=TaskPoolStrategy(size=4), ...)  # now size=2\n"
             "ds.map_batches(preprocess, compute=TaskPoolStrategy(size=4), ...)  # now size=2")
    settings = ("MapBatches(decode).concurrency=4", "MapBatches(preprocess).concurrency=4")
    result = TuneResult(kept=[Round(settings, fix, (), (), compare([100, 100], [200, 200]))])
    assert code_to_paste(result) == [
        "ds.map_batches(decode, compute=TaskPoolStrategy(size=4), ...)  # raytop tune: "
        "×2.00 rows/s (×2.00..×2.00)",
        "ds.map_batches(preprocess, compute=TaskPoolStrategy(size=4), ...)  # raytop tune: "
        "×2.00 rows/s (×2.00..×2.00)"]


def test_a_fix_with_a_line_that_is_not_a_call_cannot_be_tried():
    fix = "ds.map_batches(Model, batch_size=64, ...)\nds = ds.repartition(40)"
    assert overrides_of(_s(fix)) is None
