"""Launching the user's script under the probe, and passing signals and the exit code through."""

from __future__ import annotations

import collections
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from raytop.errors import BadInput

PROBE_CLASS = "raytop.probe.RaytopProbe"
CALLBACKS_ENV = "RAY_DATA_EXECUTION_CALLBACKS"
KILL_GRACE_S = 5.0


def probe_env(base: Mapping[str, str], interval: float, channel_dir: Path | None = None) -> dict:
    """The script's environment: the probe registered, raytop importable, reporting to the
    channel raytop listens on; nothing else changed."""
    env = dict(base)
    if channel_dir is not None:
        env["RAYTOP_CHANNEL_DIR"] = str(channel_dir)
    existing = [c.strip() for c in env.get(CALLBACKS_ENV, "").split(",") if c.strip()]
    if PROBE_CLASS not in existing:
        existing.append(PROBE_CLASS)
    env[CALLBACKS_ENV] = ",".join(existing)
    env["RAYTOP_INTERVAL"] = repr(float(interval))
    # The script runs with its own directory first on sys.path; make sure it finds this raytop.
    pkg_parent = str(Path(__file__).resolve().parents[2])
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if pkg_parent not in paths:
        paths.append(pkg_parent)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def open_script_log(path: Path, force: bool = False) -> BinaryIO:
    """The script's log, created private (0600) and never through a symlink. ``force`` replaces
    an existing regular file; a symlink or anything else in the way is refused."""
    if force:
        _remove_regular_file(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BadInput(_log_in_the_way(path)) from None
    except OSError as e:
        raise BadInput(f"cannot write the script's log {path}: {e.strerror}") from None
    return os.fdopen(fd, "wb")


def _remove_regular_file(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(_log_in_the_way(path))
    os.unlink(path)


def _log_in_the_way(path: Path) -> str:
    if os.path.islink(path):
        return f"{path} is a symbolic link; raytop does not write the script's log through one"
    if os.path.lexists(path) and not os.path.isfile(path):
        return f"{path} exists and is not a regular file; cannot write the script's log there"
    return f"{path} exists; pass --force to overwrite it"


class ScriptJob:
    """The user's script as a child process in its own process group.

    ``capture=True`` sends its stdout/stderr to ``log_file`` (else a new file at ``log_path``, see
    ``open_script_log``) and keeps the last lines in memory for the TUI's log panel; otherwise the
    script writes to raytop's terminal as usual.
    """

    def __init__(self, script: str, args: Sequence[str], *, env: dict, capture: bool = False,
                 log_path: Path | None = None, log_file: BinaryIO | None = None,
                 force_log: bool = False, max_lines: int = 2000, launcher: bool = False):
        # With overrides (`--set`), raytop's launcher runs the script in the same process.
        prefix = ["-m", "raytop.tuning.launch"] if launcher else []
        self.argv: list[str] = [sys.executable, *prefix, script, *args]
        self._env = env
        self._capture = capture
        self.log_path = log_path
        self._log_file = log_file
        self._force_log = force_log
        self._lines: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._lines_lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self._signals = 0
        self._reader: threading.Thread | None = None

    def start(self) -> ScriptJob:
        kwargs: dict[str, Any] = dict(env=self._env, start_new_session=True, stdin=subprocess.DEVNULL)
        if self._capture and self._log_file is None and self.log_path is not None:
            self._log_file = open_script_log(self.log_path, self._force_log)
        if self._capture:
            kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            self.proc = subprocess.Popen(self.argv, **kwargs)
        except BaseException:
            if self._log_file is not None:
                self._log_file.close()
            raise
        if self._capture:
            self._reader = threading.Thread(target=self._pump, name="raytop-script-log", daemon=True)
            self._reader.start()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        log = self._log_file
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                if log:
                    log.write(raw)
                    log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._lines_lock:
                    self._lines.append(line)
        finally:
            if log:
                log.close()

    def log_lines(self, max_lines: int = 200) -> list[str]:
        with self._lines_lock:
            return list(self._lines)[-max_lines:]

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def forward(self, signum: int) -> None:
        """First signal goes to the script as is; a second one ends its whole process group
        (the script and the local Ray it started): SIGTERM, then SIGKILL after a grace period."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self._signals += 1
        try:
            if self._signals == 1:
                os.kill(self.proc.pid, signum)
            else:
                os.killpg(self.proc.pid, signal.SIGTERM)
                threading.Timer(KILL_GRACE_S, self._kill_group).start()
        except ProcessLookupError:
            pass

    def _kill_group(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def exit_status(returncode: int) -> int:
    """A shell-style exit status: a script killed by signal N exits 128 + N."""
    return 128 - returncode if returncode < 0 else returncode
