"""The per-user channel: directory and socket permissions, fan-out, dropping, draining."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from raytop import channel
from raytop.channel import ChannelError, Listener, Sender


@pytest.fixture
def chan_dir():
    # AF_UNIX paths are limited to ~108 bytes: keep it short, not under pytest's tmp_path.
    parent = Path(tempfile.mkdtemp(prefix="rtc"))
    yield parent / "ch"
    shutil.rmtree(parent, ignore_errors=True)


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_listener_creates_private_dir_and_socket(chan_dir):
    with Listener(chan_dir) as lst:
        assert _mode(chan_dir) == 0o700
        assert stat.S_ISSOCK(os.lstat(lst.path).st_mode)
        assert _mode(lst.path) == 0o600
        assert lst.path.name.startswith(f"listen-{os.getpid()}-")
        assert lst.path.name.endswith(".sock")
        path = lst.path
    assert not path.exists()


def test_group_accessible_dir_of_ours_is_fixed(chan_dir):
    chan_dir.mkdir(mode=0o755)
    os.chmod(chan_dir, 0o755)
    assert channel.ensure_dir(chan_dir) == chan_dir
    assert _mode(chan_dir) == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a directory owned by another uid")
def test_dir_owned_by_another_uid_is_refused(chan_dir):
    chan_dir.mkdir(mode=0o700)
    os.chown(chan_dir, 12345, 12345)
    with pytest.raises(ChannelError, match="owned by uid 12345"):
        channel.ensure_dir(chan_dir)
    with pytest.raises(ChannelError):
        Listener(chan_dir)


def test_path_that_is_a_file_is_refused(chan_dir):
    chan_dir.write_text("not a dir")
    with pytest.raises(ChannelError, match="not a directory"):
        channel.ensure_dir(chan_dir)


def test_default_dir_prefers_usable_xdg_runtime_dir(monkeypatch, chan_dir):
    monkeypatch.delenv(channel.ENV_DIR, raising=False)
    chan_dir.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(chan_dir))
    assert channel.default_dir() == chan_dir / "raytop"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(chan_dir / "missing"))
    assert channel.default_dir() == Path(f"/tmp/raytop-{os.getuid()}")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert channel.default_dir() == Path(f"/tmp/raytop-{os.getuid()}")
    monkeypatch.setenv(channel.ENV_DIR, str(chan_dir / "x"))
    assert channel.default_dir() == chan_dir / "x"


def test_sender_reaches_every_listener(chan_dir):
    a, b = Listener(chan_dir), Listener(chan_dir)
    sender = Sender(chan_dir)
    try:
        assert sender.send(b'{"x":1}') == 2
        assert sender.send(b'{"x":2}') == 2
        assert a.drain() == [b'{"x":1}', b'{"x":2}']
        assert b.drain() == [b'{"x":1}', b'{"x":2}']
        assert a.drain() == []  # nothing pending: returns at once
    finally:
        a.close(), b.close(), sender.close()


def test_sender_drops_silently(chan_dir):
    sender = Sender(chan_dir)
    assert sender.send(b"{}") == 0  # no directory at all
    chan_dir.mkdir(mode=0o700)
    assert sender.send(b"{}") == 0
    # a socket file nobody listens on any more, and a regular file with a listener's name
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(chan_dir / "listen-1-dead.sock"))
    dead.close()
    (chan_dir / "listen-2-file.sock").write_text("")
    fresh = Sender(chan_dir)
    with Listener(chan_dir) as lst:
        assert fresh.send(b'{"ok":1}') == 1
        assert fresh.send(b"x" * (channel.MAX_MESSAGE_BYTES + 1)) == 0
        assert lst.drain() == [b'{"ok":1}']


def test_full_listener_buffer_does_not_block(chan_dir):
    with Listener(chan_dir) as lst:
        sender = Sender(chan_dir)
        payload = b"y" * 100_000
        results = [sender.send(payload) for _ in range(200)]  # far more than the queue holds
        assert results[0] == 1
        assert 0 in results  # later ones were dropped instead of blocking
        got = lst.drain()
        assert 0 < len(got) < 200
        assert all(m == payload for m in got)


def test_largest_allowed_message_goes_through(chan_dir):
    with Listener(chan_dir) as lst:
        payload = b"z" * channel.MAX_MESSAGE_BYTES
        assert Sender(chan_dir).send(payload) == 1
        assert lst.drain() == [payload]


def test_sender_never_writes_into_a_dir_others_can_enter(chan_dir):
    with Listener(chan_dir) as lst:
        os.chmod(chan_dir, 0o777)
        assert Sender(chan_dir).send(b"{}") == 0
        assert lst.drain() == []


def test_new_listener_removes_sockets_of_dead_processes(chan_dir):
    chan_dir.mkdir(mode=0o700)
    stale = chan_dir / f"listen-{_dead_pid()}-abcd.sock"
    stale.write_text("")
    alive = chan_dir / f"listen-{os.getppid()}-abcd.sock"
    alive.write_text("")
    with Listener(chan_dir):
        assert not stale.exists()
        assert alive.exists()
