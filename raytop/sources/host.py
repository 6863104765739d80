"""This machine, read without Ray: its raylets, its IP as Ray sees it, its memory and CPU.

``import ray`` costs ~0.6 CPU-seconds and ~50 MB; raytop's own process only needs to know which
raylets run here (their command line says ``--node_id``, ``--node_ip_address`` and
``--gcs-address``), the address other hosts reach it at, and its memory the way Ray's reporter
computes it (cgroup-aware). All of it is read from ``/proc``, ``/sys`` and psutil.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class LocalRaylet:
    pid: int
    node_id: str | None
    ip: str | None
    gcs_address: str | None


def _flag(args: Iterable[str], *names: str) -> str | None:
    for arg in args:
        for name in names:
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1] or None
    return None


def raylet_of(proc: psutil.Process) -> LocalRaylet | None:
    try:
        args = proc.cmdline()
    except psutil.Error:
        return None
    return LocalRaylet(pid=proc.pid, node_id=_flag(args, "--node_id"),
                       ip=_flag(args, "--node_ip_address"),
                       gcs_address=_flag(args, "--gcs-address", "--gcs_address"))


def _raylet_pids() -> list[int]:
    """Pids of the processes named ``raylet``: one small read per process (psutil's
    ``process_iter`` costs ~4x as much for the same answer)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm", "rb") as fh:
                if fh.read() == b"raylet\n":
                    out.append(int(name))
        except OSError:
            continue
    return out


_raylets: list[LocalRaylet] | None = None


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists: one signal-0 syscall. ``psutil.pid_exists`` also opens
    ``/proc/<pid>/status`` (to tell a thread id from a process), and several readers ask this
    every tick: 9 % of raytop's CPU under ``raytop run`` (py-spy)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def local_raylets(refresh: bool = False) -> list[LocalRaylet]:
    """Every raylet on this machine (of any cluster). Kept until ``refresh`` or until one of
    them exits: callers refresh when the cluster's node table changed (a node joined), so a
    quiet cluster costs no scan of ``/proc``."""
    global _raylets
    if _raylets is not None and not refresh and all(_alive(r.pid) for r in _raylets):
        return _raylets
    found = []
    for pid in _raylet_pids():
        try:
            raylet = raylet_of(psutil.Process(pid))
        except psutil.Error:
            continue
        if raylet is not None:
            found.append(raylet)
    _raylets = found
    return found


def route_ip(target: str = "8.8.8.8") -> str | None:
    """The address this host uses towards ``target`` (no packet is sent), Ray's own default."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((target, 80))
            return s.getsockname()[0]
    except OSError:
        return None


def host_ip() -> str | None:
    """This node's IP as the cluster knows it: the local raylets' ``--node_ip_address`` when they
    agree, else the address of the default route."""
    env = os.environ.get("RAY_NODE_IP_ADDRESS")
    if env:
        return env
    ips = {r.ip for r in local_raylets() if r.ip}
    if len(ips) == 1:
        return next(iter(ips))
    return route_ip()


# ---- memory and CPU, as Ray's reporter computes them ---------------------------------------

_V1 = ("/sys/fs/cgroup/memory/memory.usage_in_bytes", "/sys/fs/cgroup/memory/memory.stat",
       "/sys/fs/cgroup/memory/memory.limit_in_bytes", "total_inactive_file", "total_active_file")
_V2 = ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat",
       "/sys/fs/cgroup/memory.max", "inactive_file", "active_file")


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_used(usage: str, stat: str, inactive_key: str, active_key: str) -> int | None:
    used = _read_int(usage)
    found: dict[str, int] = {}
    try:
        with open(stat, encoding="ascii") as fh:
            for line in fh:
                key, _, val = line.partition(" ")
                if key in (inactive_key, active_key):
                    found[key] = int(val)
    except (OSError, ValueError):
        return None
    if used is None or len(found) < 2:
        return None
    return used - found[inactive_key] - found[active_key]


def node_memory() -> tuple[int | None, int | None]:
    """(used, total) bytes: the cgroup's when this runs in one (as Ray's ``get_used_memory`` and
    ``get_system_memory``), else the host's; ``used`` clamped to ``[0, total]``."""
    try:
        vm = psutil.virtual_memory()
    except Exception:  # noqa: BLE001
        return None, None
    total, used = int(vm.total), int(vm.used)
    for usage, stat, limit, inactive, active in (_V1, _V2):
        if os.path.exists(usage) and os.path.exists(stat):
            cg_used = _cgroup_used(usage, stat, inactive, active)
            cg_limit = _read_int(limit)
            if cg_used is not None:
                used = cg_used
                total = min(cg_limit, total) if cg_limit is not None else total
            break
    return max(0, min(used, total)), total


def node_cpu_percent() -> float | None:
    """CPU % of this machine since the previous call (non-blocking; prime it once)."""
    try:
        return float(psutil.cpu_percent(interval=None))
    except Exception:  # noqa: BLE001
        return None


def mem_cpu() -> tuple[int | None, int | None, float | None]:
    used, total = node_memory()
    return used, total, node_cpu_percent()
