"""The per-user channel between probes (inside Ray drivers) and raytop processes.

One directory per user, mode 0700: ``$XDG_RUNTIME_DIR/raytop`` when that is usable, else
``/tmp/raytop-<uid>`` (``RAYTOP_CHANNEL_DIR`` overrides both). Each raytop process binds a
``SOCK_DGRAM`` Unix socket ``listen-<pid>-<random>.sock`` there (mode 0600). A probe sends every
message to every listener socket it finds, without blocking, and drops it on any error: a probe
must never slow down or break the job it runs in.

Imports neither Ray nor Textual: the probe loads it inside the user's driver.
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
import time
from pathlib import Path

from raytop.errors import RaytopError

ENV_DIR = "RAYTOP_CHANNEL_DIR"
MAX_MESSAGE_BYTES = 200_000  # below the default AF_UNIX datagram limit (~212 KB send buffer)
_RECV_BYTES = 256 * 1024
_RELIST_S = 2.0
_REFUSED_S = 30.0  # a socket file nobody is bound to is tried again only after this
_PREFIX = "listen-"
_SUFFIX = ".sock"


class ChannelError(RaytopError):
    """The channel directory cannot be used safely; the message says why, in one line."""


def default_dir() -> Path:
    """Where the channel lives for this user (not created, not checked)."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        try:
            st = os.stat(runtime)
            if (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
                    and os.access(runtime, os.W_OK | os.X_OK)):
                return Path(runtime) / "raytop"
        except OSError:
            pass
    return Path("/tmp") / f"raytop-{os.getuid()}"


def _check_dir(path: Path, *, fix_mode: bool, owner: int | None = None) -> None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise ChannelError(f"channel path {path} exists and is not a directory")
    expected = os.getuid() if owner is None else owner
    if st.st_uid != expected:
        raise ChannelError(f"channel directory {path} is owned by uid {st.st_uid}, not by "
                           f"{'you' if owner is None else f'uid {owner}'}")
    if st.st_mode & 0o077:
        if not fix_mode:
            raise ChannelError(f"channel directory {path} is accessible to other users")
        os.chmod(path, 0o700)


def ensure_dir(path: Path | None = None, owner: int | None = None) -> Path:
    """Create (0700) or validate the channel directory; ``ChannelError`` when it is unsafe.
    ``owner``: a root raytop makes a channel for another user's probe (their uid owns it)."""
    path = Path(path) if path is not None else default_dir()
    try:
        os.mkdir(path, 0o700)
        if owner is not None:
            os.chown(path, owner, -1)
    except FileExistsError:
        pass
    except OSError as e:
        raise ChannelError(f"cannot create channel directory {path}: {e.strerror}") from None
    try:
        _check_dir(path, fix_mode=True, owner=owner)
    except OSError as e:
        raise ChannelError(f"cannot use channel directory {path}: {e.strerror}") from None
    return path


def private_dir() -> Path:
    """A fresh channel directory only this user can enter, for when the usual one is taken."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"raytop-{os.getuid()}-"))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _listener_pid(name: str) -> int | None:
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
        return None
    try:
        return int(name[len(_PREFIX):].split("-", 1)[0])
    except ValueError:
        return None


def remove_stale_listeners(path: Path) -> int:
    """Remove sockets left behind by raytop processes that died without closing them."""
    removed = 0
    try:
        names = os.listdir(path)
    except OSError:
        return 0
    for name in names:
        pid = _listener_pid(name)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            try:
                os.unlink(path / name)
                removed += 1
            except OSError:
                pass
    return removed


class Listener:
    """A raytop process's receiving end: one bound datagram socket in the channel directory."""

    def __init__(self, directory: Path | None = None, owner: int | None = None):
        self.directory = ensure_dir(directory, owner)
        remove_stale_listeners(self.directory)
        self.path = self.directory / f"{_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{_SUFFIX}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            except OSError:
                pass
            sock.bind(str(self.path))
            os.chmod(self.path, 0o600)
            if owner is not None:
                os.chown(self.path, owner, -1)  # that user's probe must be able to send here
            sock.setblocking(False)
        except OSError as e:
            sock.close()
            try:
                os.unlink(self.path)
            except OSError:
                pass
            raise ChannelError(f"cannot listen on {self.path}: {e.strerror or e}") from None
        self._sock: socket.socket | None = sock

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock else -1

    def drain(self, max_messages: int = 10_000) -> list[bytes]:
        """All datagrams pending now, oldest first; never blocks."""
        out: list[bytes] = []
        sock = self._sock
        if sock is None:
            return out
        while len(out) < max_messages:
            try:
                out.append(sock.recv(_RECV_BYTES, socket.MSG_DONTWAIT))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
        return out

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Sender:
    """The probe's sending end. Every method swallows OS errors: a lost message is fine."""

    def __init__(self, directory: Path | None = None):
        self._directory = Path(directory) if directory is not None else None
        self._targets: list[str] = []
        self._listed_at = float("-inf")
        self._refused: dict[str, float] = {}  # socket path -> when a send found nobody there
        self._sock: socket.socket | None = None

    @property
    def directory(self) -> Path:
        return self._directory if self._directory is not None else default_dir()

    def _resolve_targets(self) -> list[str]:
        now = time.monotonic()
        if now - self._listed_at < _RELIST_S:
            return self._targets
        self._listed_at = now
        self._targets = []
        path = self.directory
        try:
            _check_dir(path, fix_mode=False)  # never send into a directory others control
            names = os.listdir(path)
        except (OSError, ChannelError):
            return self._targets
        self._refused = {p: t for p, t in self._refused.items() if now - t < _REFUSED_S}
        self._targets = [str(path / n) for n in names
                         if n.startswith(_PREFIX) and n.endswith(_SUFFIX)
                         and str(path / n) not in self._refused]
        return self._targets

    def listening(self) -> bool:
        """Whether some raytop listens now (as of the last listing, at most ``_RELIST_S`` old).
        Socket files left by a raytop that was killed count only until a send finds them dead."""
        return bool(self._resolve_targets())

    def send(self, payload: bytes) -> int:
        """Send to every listener; returns how many took it. Oversized payloads are dropped."""
        if len(payload) > MAX_MESSAGE_BYTES:
            return 0
        targets = self._resolve_targets()
        if not targets:
            return 0
        if self._sock is None:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            except OSError:
                return 0
        sent = 0
        for target in list(targets):
            try:
                self._sock.sendto(payload, socket.MSG_DONTWAIT, target)
                sent += 1
            except (ConnectionRefusedError, FileNotFoundError):
                self._refused[target] = time.monotonic()  # its raytop is gone
                targets.remove(target)
            except OSError:
                pass  # its buffer is full: this message is lost, the listener is not
        return sent

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
