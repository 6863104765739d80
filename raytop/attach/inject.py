"""Loading raytop's probe into a running Ray driver.

The driver runs a small bootstrap file that starts ``raytop.attach.agent`` on a thread of its own.
How the bootstrap gets to run, safely:

- Python >= 3.14 on both sides: ``sys.remote_exec(pid, file)`` (PEP 768). The interpreter runs
  the file in its main thread at its next safe point.
- Older Pythons: gdb attaches (the driver pauses for a fraction of a second), maps one page in the
  driver, writes a one-line loader into it, and queues ``PyRun_SimpleString(loader)`` with
  ``Py_AddPendingCall``: the interpreter runs pending calls in its main thread, between two
  bytecodes, holding the GIL. No breakpoint is ever set and the driver never runs code while
  stopped, so gdb going away at any moment leaves the driver as it was.

The loader imports raytop from this installation's directory by path (the driver's environment
need not have raytop, and its ``sys.path`` is not changed) and swallows every exception.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import raytop
from raytop.attach.levels import gdb_binary, injection_tool, process_uid, trace_refusal
from raytop.errors import RaytopError

GDB_TIMEOUT_S = 30.0
HELLO_TIMEOUT_S = 10.0
MIN_PYTHON = (3, 10)  # raytop's own code must run in the driver
_PAGE_BYTES = 65536
_PY_VERSION = re.compile(r"python(\d)\.(\d+)")


class InjectError(RaytopError):
    """Loading the probe was refused or failed; the message says why in one line."""


@dataclass(frozen=True)
class InjectOutcome:
    pid: int
    method: str  # "gdb" | "remote_exec"
    seconds: float  # from the start of the injection to the agent's hello


def python_version_of(pid: int) -> tuple[int, int] | None:
    """The (major, minor) Python version of a process, from its executable or libpython."""
    try:
        exe = os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    m = _PY_VERSION.search(os.path.basename(exe))
    if m is None:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text(errors="replace")
        except OSError:
            return None
        m = re.search(r"libpython(\d)\.(\d+)", maps)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _package_root() -> Path:
    return Path(raytop.__file__).resolve().parent


def bootstrap_source(channel_dir: Path, token: str) -> str:
    """The file the driver runs: loads raytop by path, starts the agent on its own thread."""
    pkg = _package_root()
    return f'''# raytop probe loader, for one injection; raytop deletes it once the probe said hello
def _raytop_boot():
    import importlib.util
    import sys
    if "raytop" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "raytop", {str(pkg / "__init__.py")!r}, submodule_search_locations=[{str(pkg)!r}])
        module = importlib.util.module_from_spec(spec)
        sys.modules["raytop"] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop("raytop", None)
            raise
    from raytop.attach import agent
    agent.start({str(channel_dir)!r}, {token!r})


def _raytop_run():
    try:
        _raytop_boot()
    except BaseException:
        pass


__import__("threading").Thread(target=_raytop_run, name="raytop-inject", daemon=True).start()
'''


def pending_call_source(boot_path: Path) -> str:
    """What ``PyRun_SimpleString`` runs in the driver's main thread: the bootstrap, in a
    namespace of its own, every exception swallowed (a pending call must return 0)."""
    return ("try:\n"
            " __import__('builtins').exec(__import__('pathlib').Path("
            f"{str(boot_path)!r}).read_text(), {{'__name__': '__raytop_inject__'}})\n"
            "except BaseException:\n"
            " pass\n")


_MMAP = "((void *(*)(void *, unsigned long, int, int, int, long)) mmap)"
_ADD_PENDING_CALL = "((int (*)(int (*)(void *), void *)) Py_AddPendingCall)"
_RUN_STRING = "((int (*)(void *)) PyRun_SimpleString)"


def gdb_script(pending_file: Path) -> str:
    """gdb commands: map a page (PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS), copy the
    loader into it, queue it as a pending call. An error stops the script, and gdb detaches."""
    return f"""set pagination off
set confirm off
set unwindonsignal on
sharedlibrary libc\\.
sharedlibrary libpython
set $raytop_page = (char *) {_MMAP}(0, {_PAGE_BYTES}, 3, 0x22, -1, 0)
if $raytop_page == (char *) -1 || $raytop_page == (char *) 0
  echo raytop: mmap failed\\n
else
  restore {pending_file} binary $raytop_page
  print (int) {_ADD_PENDING_CALL}({_RUN_STRING}, $raytop_page)
end
detach
quit
"""


def _gdb_failure(pid: int, output: str) -> str:
    if "Operation not permitted" in output:
        return (f"the kernel did not let raytop trace pid {pid} (ptrace: Operation not permitted;"
                " a container without SYS_PTRACE, or kernel.yama.ptrace_scope)")
    if "No symbol" in output and ("Py_AddPendingCall" in output or "PyRun_SimpleString" in output):
        return f"pid {pid} is not a Python process raytop can load its probe into"
    if "mmap failed" in output:
        return f"could not map memory in pid {pid}"
    if "No such process" in output:
        return f"no process {pid}"
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return f"gdb could not load the probe into pid {pid}: {lines[-1] if lines else 'no output'}"


def _run_gdb(pid: int, script: Path, timeout: float) -> str:
    gdb = gdb_binary()
    if gdb is None:
        raise InjectError("no gdb on this machine (apt install gdb) to load the probe with")
    cmd = [gdb, "-batch", "-nx", "-iex", "set auto-solib-add off", "-p", str(pid), "-x", str(script)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # An interrupted inferior call is unwound (unwindonsignal), then gdb detaches.
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        raise InjectError(f"gdb did not finish within {timeout:.0f}s on pid {pid}") from None
    return out or ""


def _queue_with_gdb(pid: int, boot: Path, workdir: Path) -> None:
    pending = workdir / f"inject-{pid}-{boot.stem.rsplit('-', 1)[-1]}.bin"
    script = pending.with_suffix(".gdb")
    try:
        _write_private(pending, pending_call_source(boot).encode() + b"\0")
        _write_private(script, gdb_script(pending).encode())
        out = _run_gdb(pid, script, GDB_TIMEOUT_S)
    finally:
        for path in (pending, script):
            _unlink(path)
    m = re.search(r"^\$\d+ = (-?\d+)\s*$", out, re.M)
    if m is None:
        raise InjectError(_gdb_failure(pid, out))
    if m.group(1) != "0":
        raise InjectError(f"pid {pid}'s interpreter did not accept the call (its queue is full);"
                          " try again")


def _queue_with_remote_exec(pid: int, boot: Path) -> None:
    try:
        sys.remote_exec(pid, str(boot))  # type: ignore[attr-defined]  # Python >= 3.14
    except (OSError, RuntimeError, ValueError) as e:
        raise InjectError(f"sys.remote_exec into pid {pid} failed: {e}") from None


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def choose_method(pid: int) -> str:
    """Refuse (InjectError) or say which way the bootstrap will be run."""
    refusal = trace_refusal(pid)
    if refusal:
        raise InjectError(refusal)
    version = python_version_of(pid)
    if version is None:
        raise InjectError(f"pid {pid} is not a Python process")
    if version < MIN_PYTHON:
        raise InjectError(f"pid {pid} runs Python {version[0]}.{version[1]}; the probe needs "
                          f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
    if hasattr(sys, "remote_exec") and version == sys.version_info[:2]:
        return "remote_exec"
    if injection_tool() != "gdb":
        raise InjectError("no gdb on this machine (apt install gdb) to load the probe with")
    return "gdb"


def inject(pid: int, channel_for: Callable[[int], Path],
           wait_for_hello: Callable[[int, str, float], bool]) -> InjectOutcome:
    """Load the probe into ``pid``, reporting to ``channel_for(its uid)``, and wait for its
    hello; InjectError with one line when that is refused or does not happen."""
    started = time.monotonic()
    method = choose_method(pid)
    uid = process_uid(pid)
    if uid is None:
        raise InjectError(f"no process {pid}")
    channel_dir = Path(channel_for(uid))
    token = secrets.token_hex(8)
    boot = channel_dir / f"inject-{pid}-{token}.py"
    _write_private(boot, bootstrap_source(channel_dir, token).encode())
    if uid != os.geteuid():
        os.chown(boot, uid, -1)  # the driver reads it as its own user
    try:
        if method == "remote_exec":
            _queue_with_remote_exec(pid, boot)
        else:
            _queue_with_gdb(pid, boot, channel_dir)
        if not wait_for_hello(pid, token, HELLO_TIMEOUT_S):
            raise InjectError(f"pid {pid} did not run the probe's loader within "
                              f"{HELLO_TIMEOUT_S:.0f}s (its main thread is busy outside Python?)")
    finally:
        _unlink(boot)  # a loader still queued finds nothing to run, and does nothing
    return InjectOutcome(pid=pid, method=method, seconds=time.monotonic() - started)
