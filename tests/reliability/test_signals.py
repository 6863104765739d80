"""Fault family 2: signals. Ctrl-C and SIGTERM reach the script of `raytop run`, a second Ctrl-C
ends it, a SIGKILLed script is noticed; every time the recording is finalized and readable."""

from __future__ import annotations

import os
import signal
import time

import pytest

from raytop.recording import RecordingReader
from tests.reliability.helpers import SCRIPTS, read_line_with, start_raytop, stop

pytestmark = pytest.mark.ray
JOB = SCRIPTS / "sig_job.py"


def _run(tmp_path, *job_args):
    rec = tmp_path / "sig.raytop"
    proc = start_raytop(["run", "--headless", "--interval", "0.3", "--record", str(rec), str(JOB),
                         *job_args], cwd=tmp_path)
    pid = int(read_line_with(proc, "ready ").split()[1])
    return proc, rec, pid


def _finalized(rec, code):
    reader = RecordingReader(rec)
    try:
        assert reader.meta.get("exit_code") == code
        assert reader.meta.get("ended_utc")
        exits = [e for e in reader.events() if e.kind == "job_exit"]
        assert len(exits) == 1 and exits[0].data["exit_code"] == code
        snaps = list(reader.iter_snapshots())
        assert snaps, "no snapshot recorded"
        return reader.events(), snaps
    finally:
        reader.close()


def test_ctrl_c_reaches_the_script_and_its_exit_code_passes_through(tmp_path):
    proc, rec, _ = _run(tmp_path, "catch", "--ray")
    time.sleep(1.0)  # a few snapshots of the running pipeline
    out, err = stop(proc, signal.SIGINT, timeout=120)
    assert proc.returncode == 42, err[-2000:]
    assert "interrupted cleanly" in out
    assert "Traceback" not in err
    events, snaps = _finalized(rec, 42)
    assert any(d.state == "RUNNING" for s in snaps for d in s.datasets)  # the probe was reporting


def test_second_ctrl_c_ends_a_script_that_ignores_signals(tmp_path):
    proc, rec, pid = _run(tmp_path, "stubborn")
    proc.send_signal(signal.SIGINT)
    assert read_line_with(proc, "got signal") == f"got signal {int(signal.SIGINT)}"  # 1st: to the script
    assert proc.poll() is None
    # 2nd: SIGTERM to the script's process group (ignored here), then SIGKILL after the grace period
    out, err = stop(proc, signal.SIGINT, timeout=60)
    assert f"got signal {int(signal.SIGTERM)}" in out
    assert proc.returncode == 128 + signal.SIGKILL, err[-2000:]
    _finalized(rec, 128 + signal.SIGKILL)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_sigterm_reaches_the_script(tmp_path):
    proc, rec, _ = _run(tmp_path, "term")
    out, err = stop(proc, signal.SIGTERM, timeout=60)
    assert proc.returncode == 43, err[-2000:]
    _finalized(rec, 43)


def test_sigkill_of_the_script_is_noticed_and_recorded(tmp_path):
    proc, rec, pid = _run(tmp_path, "sleep", "--ray")
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGKILL, err[-2000:]
    assert "Traceback" not in err
    events, snaps = _finalized(rec, 137)
    failed = [e for e in events if e.kind == "dataset_failed"]
    assert failed and "exited before the dataset finished" in failed[0].message
