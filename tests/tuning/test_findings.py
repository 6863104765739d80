"""What `raytop tune` tries after a trial: the advisor's findings, then its near misses.

The GPU demo's starved model actor is idle in 56 % of the samples over its recording, against the
input-starved rule's 60 % in a 15-s window held for three evaluations: the advisor raises it 30 s
into the dataset's run. A trial cut before that used to leave tune with "nothing to change"."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from raytop.analysis.advisor import advise
from raytop.recording import RecordingReader
from raytop.tuning.candidates import next_candidate
from raytop.tuning.decide import compare
from raytop.tuning.findings import near_misses
from raytop.tuning.progress import TuneProgress
from raytop.tuning.trials import TrialResult
from raytop.tuning.tune import TuneOptions, Tuner, findings_of

ROOT = Path(__file__).resolve().parents[2]
# decode and preprocess run fused at size 2: both are raised, or decode would stay at 2
STARVED_FIX = ("MapBatches(decode).concurrency=4", "MapBatches(preprocess).concurrency=4")


def _gpu_starved(first_s: float | None = None) -> list:
    with RecordingReader(ROOT / "examples" / "gpu_starved.raytop") as reader:
        snaps = sorted(reader.iter_snapshots(), key=lambda s: s.t)
    return [s for s in snaps if first_s is None or s.t - snaps[0].t <= first_s]


def test_the_whole_recording_gives_the_fix_as_a_finding():
    _, overrides = next_candidate(advise(_gpu_starved()), tried=[])
    assert tuple(o.text for o in overrides) == STARVED_FIX


def test_a_trial_cut_before_the_advisor_raised_it_still_has_it_as_a_near_miss():
    cut = _gpu_starved(first_s=28.0)  # the advisor raises input-starved at 30 s, its near miss at 28
    assert next_candidate(advise(cut), tried=[]) is None
    finding, overrides = next_candidate(near_misses(cut), tried=[])
    assert finding.rule == "input-starved"
    assert tuple(o.text for o in overrides) == STARVED_FIX


def test_no_near_miss_before_the_dataset_ran_long_enough():
    assert next_candidate(near_misses(_gpu_starved(first_s=26.0)), tried=[]) is None


def _trial(label: str, settings, rate: float, near=()) -> TrialResult:
    return TrialResult(label, tuple(settings), Path("t.raytop"), 0, rate, None, 20.0, (),
                       tuple(near))


def test_findings_of_a_configuration_put_the_advisors_before_near_misses():
    sure = advise(_gpu_starved())[0]
    near = replace(sure, rule="other", fix="ds.map_batches(Classifier, batch_size=64, ...)")
    merged = findings_of([_trial("a", [], 1.0, near=[near]), replace(
        _trial("b", [], 1.0), suggestions=(sure,))])
    assert [s.rule for s in merged] == ["input-starved", "other"]


def test_tune_tries_a_near_miss_of_the_baseline_trial(monkeypatch, tmp_path):
    """The regression: the baseline trial raised nothing, its near miss is tried and kept."""
    near = near_misses(_gpu_starved(first_s=28.0))
    calls = []

    def fake_trial(script, args, settings, label, rec, **kw):
        calls.append(tuple(settings))
        return _trial(label, settings, 300.0 if settings else 100.0, near=near)

    monkeypatch.setattr("raytop.tuning.tune.run_trial", fake_trial)
    lines = []
    progress = TuneProgress("demo.py", lambda view, line: lines.append(line))
    opts = TuneOptions(script=Path("demo.py"), args=[], workdir=tmp_path, rounds=1, repeats=2)
    result = Tuner(opts, progress).run()
    assert result.settings == STARVED_FIX
    assert calls[:5] == [(), (), STARVED_FIX, STARVED_FIX, ()]  # baseline, then A B B A
    assert result.final is not None and result.final.verdict == compare([100, 100], [300, 300])
    assert progress.view.done and any(line.startswith("kept: " + STARVED_FIX[0]) for line in lines)
