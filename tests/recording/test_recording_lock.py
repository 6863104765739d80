"""One path, one writer: a second raytop recording to the same path (--force) is refused in one
line instead of silently taking the file from under the first."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from raytop.model import Snapshot
from raytop.recording import RecordingError, RecordingReader, RecordingWriter

T0 = 1_760_000_000.0


def test_second_writer_is_refused_and_the_first_loses_nothing(tmp_path):
    path = tmp_path / "r.raytop"
    first = RecordingWriter(path, meta={})
    first.snapshot(Snapshot(t=T0))
    with pytest.raises(RecordingError) as info:
        RecordingWriter(path, meta={}, force=True)
    assert str(info.value) == f"{path} is being recorded by another raytop (pid {os.getpid()})"
    first.snapshot(Snapshot(t=T0 + 1))
    first.close()
    with RecordingReader(path) as r:
        assert r.times() == [T0, T0 + 1]
    RecordingWriter(path, meta={}, force=True).close()  # once the first is done, --force works


_HOLDER = """
import sys
from raytop.recording import RecordingWriter
w = RecordingWriter(sys.argv[1], meta={})
print("ready", flush=True)
sys.stdin.readline()
w.close()
"""


def test_the_message_names_the_other_process(tmp_path):
    path = tmp_path / "r.raytop"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        script = tmp_path / "job.py"
        script.write_text("print('hi')\n")
        done = subprocess.run([sys.executable, "-m", "raytop", "run", "--headless", "--force",
                               "--record", str(path), str(script)], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2
        assert done.stderr.strip() == (f"raytop: {path} is being recorded by another raytop "
                                       f"(pid {holder.pid})")
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0


def test_recording_is_created_private(tmp_path):
    old = os.umask(0o022)
    try:
        RecordingWriter(tmp_path / "r.raytop", meta={}).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "r.raytop").st_mode) == 0o600
