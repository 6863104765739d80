"""A trial cut at ``--trial-seconds`` must end the trial's script, not only raytop: measured on
the GPU machine, every cut trial's script ran on to its end (7 minutes) next to the trials after
it, because `raytop tune` had been started in the background (SIGINT ignored, and inherited by the
script). Real `raytop run` processes; the script needs no Ray."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = """\
import os, signal, sys, time
if "--ignore-ctrl-c" in sys.argv:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
open(sys.argv[1], "w").write(str(os.getpid()))
while True:
    time.sleep(0.1)
"""

TRIAL = """\
import signal, sys
from pathlib import Path
from raytop.tuning import trials
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup or `cmd &` in a script
trials.CTRL_C_GRACE_S = 3.0
script, pidfile, rec = sys.argv[1:4]
t = trials.run_trial(Path(script), [pidfile, *sys.argv[4:]], [], "baseline", Path(rec),
                     trial_seconds=6.0, warmup_s=0.0)
print(t.exit_code)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _cut_trial(tmp_path: Path, *script_args: str) -> tuple[int, int]:
    """(the trial's exit code, the script's pid) of a trial cut after 6 s."""
    script, pidfile = tmp_path / "forever.py", tmp_path / "pid"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(TRIAL), str(script), str(pidfile),
                           str(tmp_path / "t.raytop"), *script_args],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "RAY_ADDRESS": "local"})
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1]), int(pidfile.read_text())


def test_a_cut_trial_stops_its_script_with_ctrl_c_though_started_in_the_background(tmp_path):
    code, pid = _cut_trial(tmp_path)
    assert not _alive(pid), f"the script {pid} outlived its trial"  # raytop reaped it
    assert code == 130, code  # the script ended on Ctrl-C (KeyboardInterrupt), not killed


def test_a_script_that_ignores_ctrl_c_is_ended_by_the_second_signal(tmp_path):
    code, pid = _cut_trial(tmp_path, "--ignore-ctrl-c")
    assert not _alive(pid), f"the script {pid} outlived its trial"  # raytop reaped it
    assert code in (128 + 15, 128 + 9), code  # SIGTERM to its group (SIGKILL 5 s on)


@pytest.fixture(autouse=True)
def _no_stray_script(tmp_path):
    yield
    pidfile = tmp_path / "pid"
    if pidfile.exists() and _alive(pid := int(pidfile.read_text())):
        os.kill(pid, 9)
