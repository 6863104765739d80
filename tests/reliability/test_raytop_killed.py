"""Fault family 3: raytop is SIGKILLed while recording. The file stays readable with everything
committed before the kill (at most the interval in flight is lost), the bridge goes with it, and
the job it observed carries on and computes the same result."""

from __future__ import annotations

import psutil
import pytest

from raytop.recording import RecordingReader

pytestmark = pytest.mark.ray
INTERVAL = 0.5


def test_recording_readable_after_kill_9(attached_kill):
    reader = RecordingReader(attached_kill["rec"])
    try:
        snaps = list(reader.iter_snapshots())
        assert reader.meta.get("ended_utc") is None  # it really was cut short
    finally:
        reader.close()
    assert len(snaps) >= attached_kill["before"]  # nothing committed before the kill is lost
    assert snaps[-1].sources.get("cluster") == "ok"
    # only the interval in flight may be missing (generous slack for a loaded 2-core machine)
    assert attached_kill["killed_at"] - snaps[-1].t < INTERVAL + 3.0


def test_bridge_dies_with_raytop(attached_kill):
    assert attached_kill["bridge"], "no bridge process was found"
    for b in attached_kill["bridge"]:
        try:
            gone = b.wait(30) is not None or not b.is_running()
        except psutil.NoSuchProcess:
            gone = True
        assert gone


def test_job_continues_unaffected(attached_kill):
    alone = attached_kill["alone"]
    code, out, err = attached_kill["with"]
    assert code == 0, err[-2000:]
    assert "result=5997000" in out  # sum(3 * i for i in range(2000))
    # the same result, DataContext, callbacks and named actors as the run without raytop
    # ("ready" was read by the fixture to know when to kill raytop)
    assert out.splitlines() == [ln for ln in alone.stdout.splitlines() if ln != "ready"]
