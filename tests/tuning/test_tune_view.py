"""The live view of `raytop tune`, driven by Textual's pilot: the states a tune goes through are
posted as the tuner thread posts them, and the view shows which trial runs, what it changes and
its rows/s so far, then the trials and verdicts. The waits are on messages handled."""

from __future__ import annotations

from raytop.tui.tune_app import NowPanel, TrialsPanel, TuneApp, TuneUpdate
from raytop.tuning.decide import compare
from raytop.tuning.progress import TuneProgress
from raytop.tuning.trials import TrialResult
from tests.tui.helpers import sync, wait_for

FIX = "MapBatches(preprocess).concurrency=4"


def text_of(widget) -> str:
    """What a widget draws, as plain text."""
    import io

    from rich.console import Console

    console = Console(width=120, file=io.StringIO())
    console.print(widget.render())
    return console.file.getvalue()


def _result(label, settings, rate) -> TrialResult:
    from pathlib import Path

    return TrialResult(label, tuple(settings), Path("t.raytop"), 0, rate, None, 20.0)


def _views():
    """The views a short tune posts, in order (built by the real TuneProgress)."""
    views = []
    p = TuneProgress("demo.py", lambda view, line: views.append(view))
    p.trial_started(1, "baseline", [])
    p.trial_progress(1, 3.0, None)
    p.trial_progress(1, 12.0, 101.5)
    p.trial_done(1, _result("baseline", [], 100.0))
    p.round_started([FIX], None)
    p.trial_started(2, "+" + FIX, [FIX])
    p.trial_progress(2, 15.0, 250.0)
    return views, p


@sync
async def test_the_view_shows_the_running_trial_its_change_and_rows_so_far():
    views, p = _views()
    app = TuneApp("raytop tune demo.py")
    async with app.run_test(size=(120, 30)) as pilot:
        now, trials = app.query_one(NowPanel), app.query_one(TrialsPanel)
        assert "starting" in text_of(now)  # nothing posted yet: no made-up figures
        app.post_message(TuneUpdate(views[1]))
        await wait_for(pilot, lambda: app.view is views[1])
        assert "trial 1 (baseline, 3 s): n/a so far" in text_of(now)
        app.post_message(TuneUpdate(views[-1]))
        await wait_for(pilot, lambda: app.view is views[-1])
        shown = text_of(now)
        assert "step: round 1" in shown and f"change under test: {FIX}  (--try)" in shown
        assert f"trial 2 (+{FIX}, 15 s): 250 rows/s so far" in shown
        rows = text_of(trials)
        assert "100 rows/s" in rows and "exit 0" in rows and "running" in rows


@sync
async def test_the_view_shows_verdicts_and_the_end():
    views, p = _views()
    p.trial_done(2, _result("+" + FIX, [FIX], 250.0))
    p.round_decided([FIX], compare([100.0], [250.0]))
    p.finished()
    app = TuneApp("raytop tune demo.py")
    async with app.run_test(size=(120, 30)) as pilot:
        app.post_message(TuneUpdate(p.view))
        await wait_for(pilot, lambda: app.view is p.view)
        assert "done: press q" in text_of(app.query_one(NowPanel))
        assert f"kept: {FIX}: ×2.50 rows/s" in text_of(app.query_one(TrialsPanel))


@sync
async def test_pending_updates_collapse_into_the_newest():
    views, _ = _views()
    app = TuneApp("raytop tune demo.py")
    async with app.run_test(size=(120, 30)) as pilot:
        for view in views:
            app.post_message(TuneUpdate(view))
        await wait_for(pilot, lambda: app.view is views[-1])
        assert app.view.current is not None and app.view.current.n == 2


def _fake_trials(monkeypatch, hold: bool):
    """Trials that measure 100 rows/s, 300 with the fix; ``hold``: the first one runs until the
    tune is stopped (it ticks, as a real trial does once a second)."""
    import threading
    from pathlib import Path

    from raytop.model import Suggestion

    fix = Suggestion(rule="input-starved", severity="warning", title="t", evidence="e",
                     fix="ds.map_batches(preprocess, compute=TaskPoolStrategy(size=4), ...)",
                     operator="MapBatches(Model)")
    tick = threading.Event()

    def fake(script, args, settings, label, rec, *, on_progress=None, **kw):
        while hold:
            on_progress(1.0, lambda: 42.0)  # raises once the tune is stopped
            tick.wait(0.01)
        return TrialResult(label, tuple(settings), Path(rec), 0, 300.0 if settings else 100.0,
                           None, 20.0, (fix,))
    monkeypatch.setattr("raytop.tuning.tune.run_trial", fake)


@sync
async def test_the_tune_runs_under_the_view_to_its_end(monkeypatch, tmp_path):
    from pathlib import Path

    from raytop.tui.tune_app import tune_app
    from raytop.tuning.tune import TuneOptions

    _fake_trials(monkeypatch, hold=False)
    opts = TuneOptions(script=Path("demo.py"), args=[], workdir=tmp_path, rounds=1, repeats=1)
    app, finish = tune_app(opts, "raytop tune demo.py")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.view is not None and app.view.done)
        assert "original -> tuned" in text_of(app.query_one(TrialsPanel))
        await pilot.press("q")
    result = finish()
    assert result is not None and result.settings == (FIX,)


@sync
async def test_quitting_the_view_stops_the_tune(monkeypatch, tmp_path):
    from pathlib import Path

    from raytop.tui.tune_app import tune_app
    from raytop.tuning.tune import TuneOptions

    _fake_trials(monkeypatch, hold=True)
    opts = TuneOptions(script=Path("demo.py"), args=[], workdir=tmp_path)
    app, finish = tune_app(opts, "raytop tune demo.py")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.view is not None and app.view.current is not None
                       and app.view.current.rows_per_s == 42.0)
        assert "42 rows/s so far" in text_of(app.query_one(NowPanel))
        await pilot.press("q")
    assert finish() is None  # stopped before the end: no result
