"""Ray worker processes on this machine: memory per process, attributed to Ray Data operators.

Workers are the children of a raylet (found by ``--node_id=<id>`` on its cmdline) whose title
starts with ``ray::``; raylet's agents (dashboard, runtime env) are left out. A raylet's children
are listed from ``/proc/<raylet>/task/*/children`` (psutil's ``children()`` reads the stat file
of every process on the host, ~5 ms with a few hundred). Each worker costs two small reads per
call: its title (``cmdline``) and ``statm``. Its heap is its private (anonymous) resident memory,
RSS minus file-backed and shared pages, which is also what Ray's reporter exports as a worker's
USS: a true USS (``smaps_rollup``) walks the page tables, ~10 ms for a Ray worker that maps the
object store, which at 1 Hz was most of what raytop cost.

With a ``ClusterLink`` the source reads every raylet of the cluster that runs on this machine
(one overlay each); without one, the raylet of the node the process's driver is on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from raytop.sources import proctitle
from raytop.sources.base import NodeOverlay, Part, SourceAbsent
from raytop.sources.cluster import local_node_identity

FULL_SCAN_S = 5.0
NO_RAYLET = "no Ray node (raylet) of this cluster runs on this machine"


@dataclass(frozen=True)
class WorkerProcess:
    pid: int
    title: str
    kind: str  # proctitle kind
    operator: str | None
    rss_bytes: int | None
    uss_bytes: int | None  # private resident memory: RSS minus file-backed and shared pages

    @property
    def heap_bytes(self) -> int | None:
        return self.uss_bytes if self.uss_bytes is not None else self.rss_bytes


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def read_worker(pid: int) -> WorkerProcess | None:
    """One Ray worker from ``/proc``; None for anything else (or a process that just ended)."""
    raw = _read(f"/proc/{pid}/cmdline")
    statm = _read(f"/proc/{pid}/statm")
    if not raw or not statm:
        return None
    title = " ".join(a for a in raw.decode("utf-8", "replace").split("\0") if a).strip()
    parsed = proctitle.parse_title(title)
    if parsed is None or parsed.is_agent:
        return None
    fields = statm.split()
    rss, shared = int(fields[1]) * _PAGE, int(fields[2]) * _PAGE
    return WorkerProcess(pid, title, parsed.kind, parsed.operator, rss, max(0, rss - shared))


def find_raylet(node_id: str | None) -> psutil.Process | None:
    """This node's raylet; with several Ray clusters on one host, the one of ``node_id``."""
    found: list[psutil.Process] = []
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


def child_pids(pid: int, threads: Iterable[str] | None = None) -> dict[str, list[int]] | None:
    """Children of ``pid`` per thread that forked them, from ``/proc/<pid>/task/*/children``
    (only ``threads`` when given); None where the kernel does not offer the file (no
    CONFIG_PROC_CHILDREN) or the process is gone."""
    out: dict[str, list[int]] = {}
    try:
        tids = list(threads) if threads is not None else os.listdir(f"/proc/{pid}/task")
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                    found = [int(p) for p in fh.read().split()]
            except FileNotFoundError:
                continue  # that thread ended
            if found:
                out[tid] = found
    except (OSError, ValueError):
        return None
    return out


class RayletWorkers:
    """The worker processes of one raylet. A raylet has ~30 threads and forks its workers from
    one or two of them: those are read every call, all of them every ``FULL_SCAN_S``."""

    def __init__(self, raylet: psutil.Process):
        self.raylet = raylet
        self._forking: list[str] | None = None  # threads seen with children
        self._scanned_at = -1e18

    def _children(self) -> list[int]:
        now = time.monotonic()
        full = self._forking is None or now - self._scanned_at >= FULL_SCAN_S
        per_thread = child_pids(self.raylet.pid, None if full else self._forking)
        if per_thread is None:
            return [p.pid for p in self.raylet.children()]
        if full:
            self._forking, self._scanned_at = sorted(per_thread), now
        return sorted({p for pids in per_thread.values() for p in pids})

    def workers(self) -> list[WorkerProcess]:
        if not self.raylet.is_running():
            raise psutil.NoSuchProcess(self.raylet.pid)
        return [w for w in map(read_worker, self._children()) if w is not None]


def node_overlay(node_id: str | None, ip: str | None, workers: list[WorkerProcess],
                 skip_pid: int | None = None) -> tuple[NodeOverlay, dict[int, str]]:
    """Heap per node and per operator, and pid -> operator, from one raylet's workers."""
    by_op: dict[str, int] = {}
    pid_ops: dict[int, str] = {}
    total = 0
    workers = [w for w in workers if w.pid != skip_pid]
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
    overlay = NodeOverlay(node_id=node_id, ip=ip, heap_bytes=total if workers else None,
                          num_workers=len(workers) if workers else None, heap_by_operator=by_op)
    return overlay, pid_ops


class ProcessSource:
    name = "processes"

    def __init__(self, link=None, *, node_id: str | None = None,
                 ip: str | None = None) -> None:
        self._link = link
        if link is None:
            local_id, local_ip = local_node_identity()
            node_id, ip = node_id or local_id, ip or local_ip
        self.node_id, self.ip = node_id, ip
        self._readers: dict[str, RayletWorkers] = {}  # node id (or "") -> its raylet's reader

    def _reader(self, key: str, pid: int | None) -> RayletWorkers:
        reader = self._readers.get(key)
        if reader is not None and (pid is None or reader.raylet.pid == pid) \
                and reader.raylet.is_running():
            return reader
        raylet = psutil.Process(pid) if pid is not None else find_raylet(self.node_id)
        if raylet is None:
            raise SourceAbsent(NO_RAYLET)
        reader = self._readers[key] = RayletWorkers(raylet)
        return reader

    def local_nodes(self) -> dict[str, tuple[int | None, str | None]]:
        """node id -> (raylet pid, ip) of the nodes read here."""
        if self._link is None:
            return {self.node_id or "": (None, self.ip)}
        nodes = self._link.nodes()
        ids = self._link.local_node_ids(nodes)
        pids = self._link.local_raylet_pids(ids)
        ips = {n["NodeID"]: n.get("NodeManagerAddress") for n in nodes}
        if not pids:
            raise SourceAbsent(NO_RAYLET)
        return {node: (pid, ips.get(node)) for node, pid in pids.items()}

    def workers(self) -> list[WorkerProcess]:
        """Every Ray worker process of the raylets read here, with memory and operator."""
        out: list[WorkerProcess] = []
        for node, (pid, _) in self.local_nodes().items():
            out.extend(self._reader(node, pid).workers())
        return out

    def stacks(self, operator: str, n: int, native: bool = False) -> list:
        """Python stacks of ``operator``'s busiest workers on this node (raytop.stacks)."""
        from raytop.stacks import node_stacks

        return node_stacks(self.workers(), operator, n, self.ip or self.node_id or "this node",
                           native)

    def read(self) -> Part:
        overlays: list[NodeOverlay] = []
        pid_ops: dict[int, str] = {}
        nodes = self.local_nodes()
        for node, (pid, ip) in nodes.items():
            try:
                workers = self._reader(node, pid).workers()
            except psutil.NoSuchProcess:
                self._readers.pop(node, None)  # the raylet went away; looked up again next read
                continue
            overlay, ops = node_overlay(node or self.node_id, ip or self.ip, workers)
            overlays.append(overlay)
            pid_ops.update(ops)
        for gone in [k for k in self._readers if k not in nodes]:
            del self._readers[gone]
        if not overlays:
            raise SourceAbsent(NO_RAYLET)
        return Part(overlays=tuple(overlays), pid_operators=pid_ops)

    def close(self) -> None:
        self._readers.clear()
