"""Can raytop load its probe into this driver process? Local checks only, each with the one-line
reason a user needs: the process and its owner, the kernel's ptrace policy, the capability,
the injection tool. The final word is the injection attempt itself (``inject.py``)."""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from collections.abc import Collection
from pathlib import Path

PROBE = "probe"  # the probe reports from the driver
INJECTABLE = "injectable"  # no probe, but raytop can load it into the driver
PROBE_FREE = "probe-free"  # only what Ray exports

CAP_SYS_PTRACE = 19
_PTRACE_SCOPE = Path("/proc/sys/kernel/yama/ptrace_scope")


def process_uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{int(pid)}").st_uid
    except OSError:
        return None


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def ptrace_scope() -> int:
    """Yama's ptrace policy: 0 any process of the same user, 1 only descendants, 2 only with
    CAP_SYS_PTRACE, 3 never. No Yama: 0."""
    try:
        return int(_PTRACE_SCOPE.read_text().strip())
    except (OSError, ValueError):
        return 0


def has_cap_sys_ptrace() -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_PTRACE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


GDB_ENV = "RAYTOP_GDB"


def gdb_binary() -> str | None:
    """The debugger to inject with: ``RAYTOP_GDB``, else gdb, else cuda-gdb (a full gdb that
    CUDA toolkits install on GPU machines that often lack plain gdb)."""
    chosen = os.environ.get(GDB_ENV)
    if chosen:
        return shutil.which(chosen)
    return shutil.which("gdb") or shutil.which("cuda-gdb")


def injection_tool() -> str | None:
    """"gdb" or "remote_exec" (PEP 768, Python >= 3.14), or None when neither is here."""
    if gdb_binary():
        return "gdb"
    if hasattr(sys, "remote_exec"):
        return "remote_exec"
    return None


def trace_refusal(pid: int) -> str | None:
    """Why this process may not be traced by raytop, or None when the kernel should allow it."""
    uid = process_uid(pid)
    if uid is None:
        return f"no process {pid}"
    privileged = has_cap_sys_ptrace()
    if uid != os.geteuid() and not privileged:
        if os.geteuid() == 0:
            return "no CAP_SYS_PTRACE here (a container started without --cap-add SYS_PTRACE?)"
        return (f"pid {pid} belongs to {user_name(uid)}; raytop can load its probe only into "
                "your own processes (or run it with sudo)")
    scope = ptrace_scope()
    if scope >= 3:
        return "tracing is disabled on this machine (kernel.yama.ptrace_scope=3)"
    if scope == 2 and not privileged:
        return "only root may attach to processes here (kernel.yama.ptrace_scope=2)"
    if scope == 1 and not privileged:
        return ("kernel.yama.ptrace_scope=1 lets only root attach to a process it did not start: "
                "run raytop with sudo, or `sysctl kernel.yama.ptrace_scope=0`")
    return None


def classify(pid: int, node_ip: str | None, local_ips: Collection[str]) -> tuple[str, str]:
    """(level, why) for a driver without the probe: INJECTABLE with how, or PROBE_FREE with why."""
    if node_ip and local_ips and node_ip not in local_ips:
        return PROBE_FREE, (f"the driver runs on {node_ip}: run `raytop attach --inject` on that "
                            "node, or start the job with the probe (`raytop probe enable`)")
    refusal = trace_refusal(pid)
    if refusal:
        return PROBE_FREE, refusal
    tool = injection_tool()
    if tool is None:
        return PROBE_FREE, "no gdb on this machine (apt install gdb) to load the probe with"
    return INJECTABLE, f"no probe in the driver; raytop can load it ({tool})"
