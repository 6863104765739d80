"""One writer per recording: the writer holds an exclusive ``flock`` on the file it created for
as long as it writes, so a second raytop told to ``--force`` the same path is refused instead of
unlinking the file from under the first (whose snapshots would then go to a deleted file).

The lock's fd is closed only after SQLite closed its connection: closing any descriptor of a file
drops the POSIX (fcntl) locks the process holds on it, and SQLite relies on those.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from raytop.recording.errors import RecordingError


def refuse_if_recording(path: Path) -> None:
    """``RecordingError`` when a live writer holds ``path``; nothing otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # gone, a symlink or unreadable: not a file a writer of ours holds
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecordingError(busy_message(path, st)) from None
    finally:
        os.close(fd)  # also drops the lock just taken


def create_locked(path: Path) -> int:
    """Create ``path`` (0600, never an existing file) and lock it; the fd must stay open for as
    long as the writer writes. ``FileExistsError`` when something is already there."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        mine = os.fstat(fd)
        try:
            now = os.stat(path)
        except FileNotFoundError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
            # another raytop with --force removed it between our create and our lock
            raise RecordingError(f"{path} was taken over by another raytop while starting")
    except BaseException:
        os.close(fd)
        raise
    return fd


def busy_message(path: Path, st: os.stat_result) -> str:
    pid = _lock_holder(st)
    who = f" (pid {pid})" if pid is not None else ""
    return f"{path} is being recorded by another raytop{who}"


def _lock_holder(st: os.stat_result) -> int | None:
    """The pid holding a FLOCK on the file ``st`` describes, from /proc/locks (Linux)."""
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"; waiters carry "->" and are skipped
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            return int(fields[4]) if fields[4].isdigit() else None
    return None
