"""The script's log next to the recording: created 0600, never through a symlink, replaced only
with --force."""

from __future__ import annotations

import os
import stat

import pytest

from raytop.commands.script import ScriptJob
from raytop.errors import BadInput


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def run_job(log_path, **kwargs) -> ScriptJob:
    job = ScriptJob("-c", ["print('from the script')"], env=dict(os.environ), capture=True,
                    log_path=log_path, **kwargs).start()
    assert job.wait(timeout=60) == 0
    return job


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_log_is_created_private(tmp_path, open_umask):
    log = tmp_path / "r.raytop.log"
    run_job(log)
    assert log.read_text() == "from the script\n"
    assert mode(log) == 0o600


def test_log_never_follows_a_symlink(tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    log = tmp_path / "r.raytop.log"
    log.symlink_to(target)
    for force in (False, True):
        with pytest.raises(BadInput, match="symbolic link"):
            run_job(log, force_log=force)
    assert target.read_text() == "precious\n" and log.is_symlink()


def test_existing_log_is_replaced_only_with_force(tmp_path, open_umask):
    log = tmp_path / "r.raytop.log"
    log.write_text("an earlier run\n")
    os.chmod(log, 0o644)
    with pytest.raises(BadInput, match="pass --force"):
        run_job(log)
    assert log.read_text() == "an earlier run\n"
    run_job(log, force_log=True)
    assert log.read_text() == "from the script\n" and mode(log) == 0o600


def test_error_is_one_line(tmp_path):
    log = tmp_path / "r.raytop.log"
    log.mkdir()
    with pytest.raises(BadInput) as info:
        run_job(log, force_log=True)
    assert "\n" not in str(info.value) and str(log) in str(info.value)


def test_run_refuses_a_symlinked_log_before_recording_anything(tmp_path):
    from raytop.commands.run import RunOptions, _open_outputs

    rec = tmp_path / "r.raytop"
    (tmp_path / "r.raytop.log").symlink_to(tmp_path / "victim.txt")
    with pytest.raises(BadInput, match="symbolic link"):
        _open_outputs(RunOptions(script=tmp_path / "job.py", record_path=rec, force=True))
    assert not rec.exists() and not (tmp_path / "victim.txt").exists()


def test_run_leaves_no_log_when_the_recording_cannot_be_created(tmp_path):
    from raytop.commands.run import RunOptions, _open_outputs
    from raytop.recording import RecordingError

    rec = tmp_path / "r.raytop"
    rec.write_text("an earlier recording")
    with pytest.raises(RecordingError, match="pass --force"):
        _open_outputs(RunOptions(script=tmp_path / "job.py", record_path=rec))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.raytop"]
