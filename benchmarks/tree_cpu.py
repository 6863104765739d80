"""CPU seconds and memory of a process tree, split into the job's part and raytop's part.

``TreeWatch`` polls a root process (raytop) and every descendant. A process is the job's when it is
the job's root (the script ``raytop run`` started) or was first seen below it; anything else under
raytop is raytop's (its bridge, multiprocessing's resource tracker). The split is made when a
process is first seen and kept, so Ray's workers stay the job's even if they are re-parented.
A process's CPU is its last reading; the root's last reading is taken from its zombie (the caller
must not reap it before ``final()``), so raytop's shutdown counts too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil


@dataclass
class TreeUsage:
    cpu_s: dict[int, float] = field(default_factory=dict)  # pid -> user + system seconds
    rss_peak: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    tree_rss_peak: int = 0  # the largest sum of RSS seen at one poll

    def cpu(self, pids: set[int]) -> float:
        return sum(v for p, v in self.cpu_s.items() if p in pids)


def _role(proc: psutil.Process, root_pid: int) -> str:
    """A short name for a process of the tree: raytop, bridge, resource-tracker, or its name."""
    if proc.pid == root_pid:
        return "raytop"
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        cmd = ""
    if "resource_tracker" in cmd:
        return f"resource-tracker:{proc.pid}"
    if "multiprocessing.spawn" in cmd or "spawn_main" in cmd:
        return f"bridge:{proc.pid}"
    return f"{proc.name()}:{proc.pid}"


def _proc_stat_cpu(pid: int) -> float | None:
    """utime + stime of ``pid`` from /proc, also for a zombie (psutil refuses those)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tick
    except (OSError, IndexError, ValueError):
        return None


class TreeWatch:
    """Polls ``root``'s tree every ``period`` seconds on a thread of its own."""

    def __init__(self, root_pid: int, period: float = 0.2,
                 job_root: Callable[[], int | None] = lambda: None) -> None:
        self.root_pid = root_pid
        self.period = period
        self._job_root = job_root
        self.usage = TreeUsage()
        self.job_pids: set[int] = set()
        self.raytop_pids: set[int] = {root_pid}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._root = psutil.Process(root_pid)
        self._counting = False
        self._start_cpu: dict[int, float] = {}

    def start(self) -> TreeWatch:
        self._thread.start()
        return self

    def count_from_now(self) -> None:
        """Only CPU spent from now on counts (steady-state measurements)."""
        self._start_cpu = dict(self.usage.cpu_s)
        self._counting = True

    def _classify(self, proc: psutil.Process) -> None:
        pid = proc.pid
        if pid in self.job_pids or pid in self.raytop_pids:
            return
        job = self._job_root()
        try:
            chain = {p.pid for p in proc.parents()}
        except psutil.Error:
            chain = set()
        if pid == job or (job is not None and job in chain) or chain & self.job_pids:
            self.job_pids.add(pid)
        else:
            self.raytop_pids.add(pid)

    def poll(self) -> None:
        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for proc in procs:
            self._classify(proc)
            try:
                t = proc.cpu_times()
                rss = proc.memory_info().rss
                name = self.usage.names.get(proc.pid) or _role(proc, self.root_pid)
            except psutil.Error:
                continue
            self.usage.cpu_s[proc.pid] = t.user + t.system
            self.usage.names[proc.pid] = name
            self.usage.rss_peak[proc.pid] = max(rss, self.usage.rss_peak.get(proc.pid, 0))
            if proc.pid in self.raytop_pids:
                total += rss
        self.usage.tree_rss_peak = max(self.usage.tree_rss_peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.period)

    def final(self) -> TreeUsage:
        """Stop polling; the root's CPU from its zombie when it has exited unreaped."""
        self._stop.set()
        self._thread.join()
        last = _proc_stat_cpu(self.root_pid)
        if last is not None:
            self.usage.cpu_s[self.root_pid] = max(last, self.usage.cpu_s.get(self.root_pid, 0.0))
        if self._counting:
            self.usage.cpu_s = {p: v - self._start_cpu.get(p, 0.0)
                                for p, v in self.usage.cpu_s.items()}
        return self.usage


def wait_unreaped(pid: int, timeout: float) -> bool:
    """Wait until child ``pid`` has exited, without reaping it (its /proc entry stays)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            waited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:
            return True
        if waited is not None and waited.si_pid == pid:
            return True
        time.sleep(0.05)
    return False
