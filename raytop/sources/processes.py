"""Ray worker processes on this node: memory per process, attributed to Ray Data operators.

Workers are the children of this node's raylet (found by ``--node_id=<id>`` on its cmdline) whose
title starts with ``ray::``; raylet's agents (dashboard, runtime env) are left out. RSS is read on
every call; USS (private memory, what the process would give back on exit) needs a full
``/proc/<pid>/smaps`` walk, ~1-10 ms per big Python worker, so each worker's USS is refreshed at
most every ``uss_max_age`` seconds and within ``uss_budget_s`` per read; between refreshes the
last USS is used. ``heap_bytes`` is USS when known, else RSS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import psutil

from raytop.sources import proctitle
from raytop.sources.base import NodeOverlay, Part, SourceAbsent
from raytop.sources.cluster import local_node_identity


@dataclass(frozen=True)
class WorkerProcess:
    pid: int
    title: str
    kind: str  # proctitle kind
    operator: Optional[str]
    rss_bytes: Optional[int]
    uss_bytes: Optional[int]  # possibly up to uss_max_age old

    @property
    def heap_bytes(self) -> Optional[int]:
        return self.uss_bytes if self.uss_bytes is not None else self.rss_bytes


def find_raylet(node_id: Optional[str]) -> Optional[psutil.Process]:
    """This node's raylet; with several Ray clusters on one host, the one of ``node_id``."""
    found: List[psutil.Process] = []
    for p in psutil.process_iter(["name"]):
        try:
            if p.info["name"] != "raylet":
                continue
            if node_id is None:
                found.append(p)
                continue
            if any(arg == f"--node_id={node_id}" for arg in p.cmdline()):
                return p
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found[0] if len(found) == 1 else None


class ProcessSource:
    name = "processes"

    def __init__(self, *, uss_max_age: float = 5.0, uss_budget_s: float = 0.02,
                 node_id: Optional[str] = None, ip: Optional[str] = None) -> None:
        self._uss_max_age = uss_max_age
        self._uss_budget_s = uss_budget_s
        local_id, local_ip = local_node_identity()
        self.node_id = node_id or local_id
        self.ip = ip or local_ip
        self._raylet: Optional[psutil.Process] = None
        # (pid, create_time) -> (uss, read at); create_time guards against pid reuse.
        self._uss: Dict[Tuple[int, float], Tuple[int, float]] = {}
        self._procs: Dict[int, psutil.Process] = {}

    def _raylet_process(self) -> psutil.Process:
        if self._raylet is not None and self._raylet.is_running():
            return self._raylet
        self._raylet = find_raylet(self.node_id)
        if self._raylet is None:
            raise SourceAbsent("no Ray node (raylet) of this cluster runs on this machine")
        return self._raylet

    def _proc(self, child: psutil.Process) -> psutil.Process:
        # Reuse Process objects so their create_time is cached.
        known = self._procs.get(child.pid)
        if known is not None and known.create_time() == child.create_time():
            return known
        self._procs[child.pid] = child
        return child

    def workers(self) -> List[WorkerProcess]:
        """Every Ray worker process of this node's raylet, with memory and operator."""
        raylet = self._raylet_process()
        try:
            children = raylet.children()
        except psutil.NoSuchProcess:
            self._raylet = None
            raise
        deadline = time.monotonic() + self._uss_budget_s
        out: List[WorkerProcess] = []
        seen = set()
        for child in children:
            try:
                p = self._proc(child)
                title = " ".join(a for a in p.cmdline() if a).strip()
                parsed = proctitle.parse_title(title)
                if parsed is None or parsed.is_agent:
                    continue
                key = (p.pid, p.create_time())
                seen.add(key)
                rss = int(p.memory_info().rss)
                uss = self._read_uss(p, key, deadline)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            except psutil.AccessDenied:
                continue
            out.append(WorkerProcess(p.pid, title, parsed.kind, parsed.operator, rss, uss))
        for key in [k for k in self._uss if k not in seen]:
            del self._uss[key]
        live = {k[0] for k in seen}
        for pid in [pid for pid in self._procs if pid not in live]:
            del self._procs[pid]
        return out

    def _read_uss(self, p: psutil.Process, key: Tuple[int, float], deadline: float) -> Optional[int]:
        cached = self._uss.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self._uss_max_age:
            return cached[0]
        if now > deadline:  # over this read's budget: an older USS, or RSS until a later read
            return cached[0] if cached is not None else None
        try:
            uss = int(p.memory_full_info().uss)
        except psutil.AccessDenied:
            return None
        self._uss[key] = (uss, time.monotonic())
        return uss

    def read(self) -> Part:
        workers = self.workers()
        by_op: Dict[str, int] = {}
        pid_ops: Dict[int, str] = {}
        total = 0
        for w in workers:
            heap = w.heap_bytes
            if heap is not None:
                total += heap
            if w.operator is not None:
                pid_ops[w.pid] = w.operator
                if heap is not None:
                    by_op[w.operator] = by_op.get(w.operator, 0) + heap
        # Ray keeps worker processes (idle ones included) on every node: none recognised means
        # their titles are not what this raytop reads, so the heap is unknown, not 0.
        overlay = NodeOverlay(node_id=self.node_id, ip=self.ip,
                              heap_bytes=total if workers else None,
                              num_workers=len(workers) if workers else None,
                              heap_by_operator=by_op)
        return Part(overlays=(overlay,), pid_operators=pid_ops)

    def close(self) -> None:
        self._procs.clear()
        self._uss.clear()
