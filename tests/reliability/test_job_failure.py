"""Fault family 1: the job fails (an exception in a UDF). `raytop run` exits with the script's
code, the recording holds every snapshot up to the end and the failure with its error, and the
TUI shows the failure when the recording is replayed."""

from __future__ import annotations

import pytest

from raytop.recording import RecordingReader
from tests.tui.helpers import sync, wait_for

pytestmark = pytest.mark.ray
INTERVAL = 0.3


@pytest.fixture(scope="module")
def recorded(failing_run):
    reader = RecordingReader(failing_run["rec"])
    data = {"meta": reader.meta, "events": reader.events(), "snaps": list(reader.iter_snapshots())}
    reader.close()
    return data


def test_exit_code_is_the_scripts(failing_run):
    proc = failing_run["proc"]
    assert proc.returncode == 1, failing_run["err"][-3000:]
    assert "rows=" not in failing_run["out"]  # the job really failed
    assert f"recording saved to {failing_run['rec']}" in failing_run["err"]


def test_failure_event_carries_the_error(recorded):
    failed = [e for e in recorded["events"] if e.kind == "dataset_failed"]
    assert len(failed) == 1
    assert "ValueError: planted failure" in failed[0].message
    assert "planted failure" in failed[0].data["error"]
    exits = [e for e in recorded["events"] if e.kind == "job_exit"]
    assert [e.data["exit_code"] for e in exits] == [1]
    assert recorded["meta"]["exit_code"] == 1 and recorded["meta"].get("ended_utc")


def test_every_snapshot_until_the_end_is_there(recorded):
    snaps = recorded["snaps"]
    failed_t = next(e.t for e in recorded["events"] if e.kind == "dataset_failed")
    exit_t = next(e.t for e in recorded["events"] if e.kind == "job_exit")
    times = [s.t for s in snaps]
    assert times == sorted(times)
    assert times[-1] >= exit_t >= failed_t  # the final tick comes after the exit
    # no hole: snapshots kept coming at the interval from the first to the last
    assert not [e for e in recorded["events"] if e.kind == "gap"]
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) < 3 * INTERVAL + 2
    states = [d.state for s in snaps for d in s.datasets]
    assert "RUNNING" in states
    final = snaps[-1].datasets[-1]
    assert final.state == "FAILED" and "planted failure" in final.error


@sync
async def test_replay_shows_the_failure(failing_run):
    from raytop.tui.app import ReplayApp

    app = ReplayApp(RecordingReader(failing_run["rec"]), title="replay fail.raytop")
    async with app.run_test(size=(140, 35)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None and app.frame.replay is not None)
        await pilot.press("end")
        count = app.frame.replay.count
        await wait_for(pilot, lambda: app.frame.replay.index == count - 1)
        await pilot.pause()
        header = app.screen.query_one("#header").render().plain
        assert "FAILED" in header
        assert "error: " in header and "ValueError: planted fail" in header
        await pilot.press("q")
