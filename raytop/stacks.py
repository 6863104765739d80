"""Python stacks of an operator's busiest workers, with py-spy (the optional extra
``pip install 'raytop[stacks]'``).

On one node: the operator's worker processes (Ray names them ``ray::MapWorker(<op>)`` for actors
and ``ray::<op>`` for tasks while they run), their CPU use over a short window, then ``py-spy dump``
of the busiest. The bridge runs this for its own node and asks each node's sampler actor to run it
on theirs. Only process titles name operators: two operators with one name cannot be told apart
here, and the answer says so.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

CPU_WINDOW_S = 0.5
DUMP_TIMEOUT_S = 20.0
MISSING = "py-spy is not installed on this node (pip install 'raytop[stacks]')"


@dataclass(frozen=True)
class WorkerStack:
    pid: int
    node: str  # the node's IP (or id)
    title: str  # the process title, e.g. ray::MapWorker(MapBatches(Model)).submit
    cpu_percent: float | None  # over CPU_WINDOW_S, of one core
    stack: str | None = None  # py-spy's dump
    error: str | None = None  # why there is no stack, in one line


def _cpu_percents(pids: Sequence[int], window_s: float) -> dict:
    import psutil

    procs = {}
    for pid in pids:
        try:
            p = psutil.Process(pid)
            p.cpu_percent(None)  # primes the reading
            procs[pid] = p
        except psutil.Error:
            continue
    time.sleep(window_s)  # CPU use is a rate: it needs a window
    out = {}
    for pid, p in procs.items():
        try:
            out[pid] = p.cpu_percent(None)
        except psutil.Error:
            continue
    return out


def busiest(workers, operator: str, n: int, window_s: float = CPU_WINDOW_S) -> list:
    """The ``n`` workers of ``operator`` (by process title) using the most CPU, with it."""
    mine = [w for w in workers if w.operator == operator]
    cpu = _cpu_percents([w.pid for w in mine], window_s)
    ranked = sorted(mine, key=lambda w: cpu.get(w.pid, -1.0), reverse=True)
    return [(w, cpu.get(w.pid)) for w in ranked[:n]]


def dump(pid: int, native: bool = False, timeout: float = DUMP_TIMEOUT_S) -> str:
    """``py-spy dump`` of one process; RuntimeError with one line when it cannot be had."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise RuntimeError(MISSING)
    cmd = [exe, "dump", "--pid", str(pid)] + (["--native"] if native else [])
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"py-spy did not answer within {timeout:.0f}s") from None
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr or res.stdout).splitlines() if ln.strip()]
        why = lines[-1].strip() if lines else f"exit code {res.returncode}"
        if "ermission" in why:
            why += " (py-spy needs the rights to trace the worker: same user, or root)"
        raise RuntimeError(why)
    return res.stdout


def node_stacks(workers, operator: str, n: int, node: str,
                native: bool = False) -> list[WorkerStack]:
    """Stacks of ``operator``'s ``n`` busiest workers among ``workers`` (one node's)."""
    out = []
    for w, cpu in busiest(workers, operator, n):
        try:
            out.append(WorkerStack(w.pid, node, w.title, cpu, stack=dump(w.pid, native)))
        except RuntimeError as e:
            out.append(WorkerStack(w.pid, node, w.title, cpu, error=str(e)))
    return out


def common_failure(stacks: Sequence[WorkerStack]) -> str | None:
    """The one reason, when no worker's stack could be had and all failed for it (py-spy
    missing on the nodes, or without the rights to trace the workers); None otherwise."""
    reasons = {s.error for s in stacks if s.stack is None}
    if not stacks or any(s.stack is not None for s in stacks) or len(reasons) != 1:
        return None
    return next(iter(reasons)) or None


def format_stacks(operator: str, stacks: Sequence[WorkerStack], notes: Sequence[str] = ()) -> str:
    """What `raytop stacks` prints and the TUI shows."""
    lines = [f"stacks of {operator}: {len(stacks)} worker(s)"]
    lines += [f"note: {note}" for note in notes]
    for s in stacks:
        cpu = "CPU n/a" if s.cpu_percent is None else f"CPU {s.cpu_percent:.0f}%"
        lines.append(f"\n== pid {s.pid} on {s.node} · {s.title} · {cpu}")
        lines.append(s.stack.rstrip() if s.stack else f"   no stack: {s.error}")
    return "\n".join(lines)
