"""End to end: the real `python -m raytop replay` in a 100x30 tmux pane; read the pane, press keys,
check it quits with exit status 0."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.tui.helpers import CPU_REC, ensure_fixtures

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _pane(session: str) -> str:
    return _tmux("capture-pane", "-p", "-t", session)


def _wait_pane(session: str, needle: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _pane(session)
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared; pane:\n{text}")


def test_replay_in_tmux(tmp_path):
    ensure_fixtures()
    session = f"raytop-e2e-{uuid.uuid4().hex[:8]}"
    status = tmp_path / "status"
    # COLUMNS/LINES from the test runner would override the pane's real size
    cmd = (f"cd {shlex.quote(str(ROOT))} && unset COLUMNS LINES && "
           f"{shlex.quote(sys.executable)} -m raytop replay "
           f"{shlex.quote(str(CPU_REC))}; echo $? > {shlex.quote(str(status))}; sleep 30")
    _tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", "bash", "-c", cmd)
    # a tmux server started elsewhere may size windows after its clients: pin 100x30
    _tmux("set-option", "-t", session, "window-size", "manual")
    _tmux("resize-window", "-t", session, "-x", "100", "-y", "30")
    try:
        _wait_pane(session, "1/60")
        pane = _wait_pane(session, "MapBatches(Model)")
        assert "MapBatches(Model)" in pane and "ReadRange->MapBatches(preprocess)" in pane
        assert "GPU" in pane and "no GPU (NVML library not found)" in pane
        assert "Memory" in pane and "store" in pane
        for _ in range(3):
            _tmux("send-keys", "-t", session, "Right")
        _wait_pane(session, "4/60")
        _tmux("send-keys", "-t", session, "Left")
        _wait_pane(session, "3/60")
        _tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 30
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status.read_text().strip() == "0"
        assert "Traceback" not in _pane(session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
