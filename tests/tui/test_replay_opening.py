"""Where `raytop replay` opens: on the first snapshot with a running dataset (a recording starts
before the job's first dataset does), the first one when no dataset ever runs; `--play` plays
from there at once. Over the committed CPU recording, with snapshots before it where nothing (or
only a pending dataset) runs."""

from __future__ import annotations

import dataclasses

from click.testing import CliRunner

from raytop.recording import RecordingReader
from raytop.tui.app import ReplayApp
from tests.tui.helpers import committed_snapshots, sync, text_of, wait_for, wait_index, write_recording

LEAD = 5  # snapshots before the first one with a running dataset


def _with_idle_start(tmp_path):
    """LEAD snapshots (no dataset, then a pending one), then the CPU recording."""
    snaps = committed_snapshots()
    first = snaps[0]
    pending = tuple(dataclasses.replace(ds, state="PENDING") for ds in first.datasets)
    lead = [dataclasses.replace(first, t=first.t - LEAD + i, datasets=() if i < 3 else pending)
            for i in range(LEAD)]
    return write_recording(tmp_path / "idle_start.raytop", lead + snaps)


def _app(path, **kwargs) -> ReplayApp:
    return ReplayApp(RecordingReader(path), title=f"replay {path.name}", **kwargs)


@sync
async def test_opens_on_the_first_snapshot_with_a_running_dataset(tmp_path):
    app = _app(_with_idle_start(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame.replay is not None)
        assert app.frame.replay.index == LEAD  # the first frame shown is that one
        assert app.frame.replay.count == LEAD + 60
        assert app.frame.snapshot.dataset("infer_0").state == "RUNNING"
        assert not app.frame.replay.playing
        # what led up to it is in the history (the timelines), and Home still goes to t=0
        assert len(app.frame.history) == LEAD + 1
        assert "RUNNING" in text_of(app.screen.query_one("#header"))
        await pilot.press("home")
        await wait_index(pilot, app, 0)
        assert app.frame.snapshot.datasets == ()


@sync
async def test_opens_on_the_first_snapshot_when_no_dataset_runs(tmp_path):
    snaps = committed_snapshots()
    finished = [s for s in snaps if all(ds.state == "FINISHED" for ds in s.datasets)]
    assert finished, "the CPU recording ends with its dataset finished"
    path = write_recording(tmp_path / "finished.raytop", finished)
    app = _app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame.replay is not None)
        assert app.frame.replay.index == 0 and not app.frame.replay.playing


def _keep_positions(app: ReplayApp) -> list:
    """The replay position of every frame that comes to ``app`` (playing, frames may come faster
    than a test looks)."""
    positions: list = []
    receive = app.receive_frame

    def keep(frame) -> None:
        positions.append(frame.replay)
        receive(frame)

    app.receive_frame = keep
    return positions


@sync
async def test_play_starts_playing_from_the_opening_snapshot(tmp_path):
    path = _with_idle_start(tmp_path)
    app = _app(path, play=True)
    positions = _keep_positions(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(positions) >= 2)  # it moves on by itself
        first, second = positions[:2]
        assert (first.index, first.playing) == (LEAD, True)
        assert (second.index, second.playing) == (LEAD + 1, True)
        assert text_of(app.screen.query_one("#header")).startswith(" REPLAY ▶ ")
        await pilot.press("space")
        await wait_for(pilot, lambda: not app.frame.replay.playing)


def test_the_command_passes_play_on(tmp_path, monkeypatch):
    import raytop.tui
    from raytop.commands.replay import command

    path = _with_idle_start(tmp_path)
    calls = []
    monkeypatch.setattr(raytop.tui, "run_replay", lambda p, play=False: calls.append((p, play)) or 0)
    for args, play in (([str(path)], False), (["--play", str(path)], True)):
        result = CliRunner().invoke(command, args)
        assert result.exit_code == 0, result.output
        assert calls.pop() == (path, play)
