"""Other machines' nodes, read in groups: one reader per group of nodes, answers pre-summed.

A ``GroupReader`` reads its nodes the way raytop reads any node it cannot see with psutil: the
raylet's ``GetNodeStats`` (object store used and spilled, worker count; all raylets of the group
asked at once; used from the page when a raylet does not answer) every call, and the node's
metrics page (``node_metrics.py``) whenever the dashboard agent refreshed it (a page is turned
into readings once). It answers with a ``GroupReading``: per-operator sums over the group (heap,
GPU memory), and per-node detail only for the nodes whose readings changed since its last answer
(``full=True``: all of them), so a quiet node costs the receiver nothing.

Groups of ``GROUP_SIZE`` nodes. Up to ``IN_PROCESS_MAX`` other nodes the readers run in raytop's
own process (``RemoteNodesSource``); beyond, each group is meant to be read by an aggregator in
the cluster (``docs/scaling.md``), so raytop's work per tick is O(groups), not O(nodes).
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raytop.model import ObjectStore
from raytop.sources.base import NodeOverlay
from raytop.sources.metrics import MetricsCache, node_endpoint, value
from raytop.sources.node_metrics import WANTED, overlay_from_metrics

GROUP_SIZE = 32
SILENT_AFTER_S = 20.0  # an agent failing this long is not one that is still starting
IN_PROCESS_MAX = 64
# What raytop's own process asks of other machines per second, whatever their number: past
# ~125 nodes each raylet is asked less often than every second, past ~200 each page less often
# than every 5 s (docs/scaling.md: at 1,000 nodes every 8 s and every 25 s).
RAYLET_CALLS_PER_S = 125.0
PAGES_PER_S = 40.0
RETRY_S = 2.0  # a raylet that did not answer is asked again this soon, whatever the budget
PAGE_EVERY_S = 5.0  # Ray's reporter refreshes a page's values every 5 s: never read more often


@dataclass(frozen=True)
class Cadence:
    """How often each node's raylet and page are read (``for_nodes``: the budget shared out)."""

    store_every_s: float = 0.0  # 0: every read
    page_every_s: float = PAGE_EVERY_S

    @classmethod
    def for_nodes(cls, count: int) -> Cadence:
        return cls(store_every_s=count / RAYLET_CALLS_PER_S if count > RAYLET_CALLS_PER_S else 0.0,
                   page_every_s=max(PAGE_EVERY_S, count / PAGES_PER_S))


class _Due:
    """When each node is next read. A node seen for the first time is read at once, and its
    next read falls somewhere in the period after (by a hash of its id), so that the reads of
    many nodes spread over the period instead of coming all at once."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}

    def due(self, node_id: str, now: float, every_s: float) -> bool:
        at = self._next.get(node_id)
        if at is not None and now < at:
            return False
        spread = (zlib.crc32(node_id.encode()) & 0xFFFF) / 0x10000 if at is None else 1.0
        self._next[node_id] = now + every_s * spread
        return True

    def again_at(self, node_id: str, at: float) -> None:
        """Read this node again no later than ``at`` (a read that failed)."""
        self._next[node_id] = min(self._next.get(node_id, at), at)

    def keep(self, ids: set[str]) -> None:
        self._next = {k: v for k, v in self._next.items() if k in ids}
_WORKER = 0  # common_pb2.WorkerType.WORKER
STORE_SERIES = ("ray_object_store_used_memory",)  # when the raylet does not answer


def group_of(node_id: str, groups: int) -> int:
    """A node's group: stable while the number of groups stays the same."""
    return zlib.crc32(node_id.encode()) % max(1, groups)


def partition(nodes: Sequence[Mapping[str, Any]], size: int = GROUP_SIZE) -> list[list[Mapping]]:
    groups = max(1, -(-len(nodes) // size))
    out: list[list[Mapping]] = [[] for _ in range(groups)]
    for node in nodes:
        out[group_of(node["NodeID"], groups)].append(node)
    return [g for g in out if g]


@dataclass(frozen=True)
class GroupReading:
    group: int
    t: float
    node_ids: tuple[str, ...]  # the group's members
    overlays: tuple[NodeOverlay, ...]  # the members whose readings changed (all, when full)
    heap_by_operator: Mapping[str, int] = field(default_factory=dict)  # summed over the group
    gpu_mem_by_operator: Mapping[str, int] = field(default_factory=dict)
    answered: int = 0  # members with a metrics page
    errors: tuple[str, ...] = ()
    silent: tuple[str, ...] = ()  # members whose metrics endpoint does not answer (or has none)


def _add(into: dict[str, int], more: Mapping[str, int] | None) -> None:
    for key, v in (more or {}).items():
        into[key] = into.get(key, 0) + v


class GroupReader:
    """One group's nodes. ``node_stats(keys)`` asks the raylets at ``keys`` ((ip, port)) at once
    and answers key -> ``GetNodeStatsReply`` or the error it gave (``ClusterLink.node_stats``)."""

    def __init__(self, group: int, metrics: MetricsCache, node_stats) -> None:
        self.group = group
        self._metrics = metrics
        self._metrics.want(WANTED + STORE_SERIES)
        self._node_stats = node_stats
        self._members: list[Mapping[str, Any]] = []
        self._sent: dict[str, NodeOverlay] = {}
        # node id -> (page version, store, overlay): a page is turned into readings once
        self._built: dict[str, tuple[int, Any, NodeOverlay]] = {}
        self._store_due, self._page_due = _Due(), _Due()
        self._last_store: dict[str, tuple[ObjectStore, int | None]] = {}
        self._now = 0.0  # of the read under way

    def set_members(self, nodes: Sequence[Mapping[str, Any]]) -> None:
        self._members = list(nodes)
        ids = {n["NodeID"] for n in nodes}
        self._sent = {k: v for k, v in self._sent.items() if k in ids}
        self._built = {k: v for k, v in self._built.items() if k in ids}
        self._last_store = {k: v for k, v in self._last_store.items() if k in ids}
        self._store_due.keep(ids)
        self._page_due.keep(ids)

    def due_raylets(self, now: float, every_s: float) -> dict[str, tuple[str, int]]:
        """node id -> (ip, port) of the members whose raylet is to be asked now."""
        return {n["NodeID"]: (str(n["NodeManagerAddress"]), int(n["NodeManagerPort"] or 0))
                for n in self._members if self._store_due.due(n["NodeID"], now, every_s)}

    def _stores(self, keys: Mapping[str, tuple[str, int]], replies: Mapping[tuple[str, int], Any]
                ) -> tuple[dict[str, tuple[ObjectStore, int | None]], list[str]]:
        """node id -> (object store, workers): the answers of the raylets asked (``keys``), the
        others' last answers."""
        out = self._last_store
        errors: list[str] = []
        for node in self._members:
            node_id = node["NodeID"]
            if node_id not in keys:
                continue
            reply = replies.get(keys[node_id])
            if reply is None or isinstance(reply, Exception):
                errors.append(f"{node_id[:12]}: raylet {type(reply).__name__}")
                out.pop(node_id, None)  # unknown now (the page may say what is used)
                self._store_due.again_at(node_id, self._now + RETRY_S)
                continue
            store = reply.store_stats
            capacity = (node.get("Resources") or {}).get("object_store_memory")
            workers = sum(1 for w in reply.core_workers_stats if w.worker_type == _WORKER)
            out[node_id] = (ObjectStore(used_bytes=int(store.object_store_bytes_used),
                                        capacity_bytes=int(capacity) if capacity else None,
                                        spilled_bytes=int(store.spilled_bytes_total)), workers)
        return dict(out), errors

    def _silent(self, node: Mapping[str, Any]) -> bool:
        ep = node_endpoint(node)
        if ep is None:
            return True
        failing = self._metrics.failing_for(*ep)
        return failing is not None and failing >= SILENT_AFTER_S

    def _overlay(self, node: Mapping[str, Any], store, page_due: bool) -> tuple[NodeOverlay, bool]:
        """The node's readings: rebuilt only when its page was fetched again or its raylet's
        answer changed (parsing a page's titles and GPUs is most of a node's cost)."""
        node_id = node["NodeID"]
        ep = node_endpoint(node)
        # Not due: the copy in hand, however old. Due: fetched again (in the background).
        page = self._metrics.get(*ep, max_age=0.0 if page_due else math.inf) if ep else None
        version = self._metrics.version(*ep) if page is not None and ep else -1
        built = self._built.get(node_id)
        if built is not None and built[0] == version and built[1] == store:
            return built[2], page is not None
        base = overlay_from_metrics(node_id, node.get("NodeManagerAddress"), page) \
            if page else NodeOverlay(node_id=node_id, ip=node.get("NodeManagerAddress"))
        if store is not None:
            base = NodeOverlay(**{**base.__dict__, "object_store": store[0],
                                  "num_workers": store[1]})
        elif page:  # the raylet did not answer: what the agent says is used
            capacity = (node.get("Resources") or {}).get("object_store_memory")
            used = value(page, "ray_object_store_used_memory")
            base = NodeOverlay(**{**base.__dict__, "object_store": ObjectStore(
                used_bytes=int(used) if used is not None else None,
                capacity_bytes=int(capacity) if capacity else None)})
        self._built[node_id] = (version, store, base)
        return base, page is not None

    def read(self, full: bool = False, now: float | None = None, cadence: Cadence = Cadence(),
             asked: tuple[Mapping[str, tuple[str, int]], Mapping] | None = None) -> GroupReading:
        """``asked``: (``due_raylets``' answer, the raylets' replies) when the caller asked the
        raylets of several groups at once; else this group's due raylets are asked here."""
        now = time.monotonic() if now is None else now
        self._now = now
        if asked is None:
            keys = self.due_raylets(now, cadence.store_every_s)
            try:
                asked = (keys, self._node_stats(list(keys.values())) if keys else {})
            except Exception:  # noqa: BLE001 - no answer at all: each is an error below
                asked = (keys, {})
        stores, errors = self._stores(*asked)
        heap: dict[str, int] = {}
        gpu_mem: dict[str, int] = {}
        changed, answered = [], 0
        for node in self._members:
            page_due = self._page_due.due(node["NodeID"], now, cadence.page_every_s)
            overlay, has_page = self._overlay(node, stores.get(node["NodeID"]), page_due)
            answered += has_page
            _add(heap, overlay.heap_by_operator)
            _add(gpu_mem, overlay.gpu_mem_by_operator)
            sent = self._sent.get(node["NodeID"])
            if full or (sent is not overlay and sent != overlay):
                changed.append(overlay)
                self._sent[node["NodeID"]] = overlay
        return GroupReading(group=self.group, t=time.time(),
                            node_ids=tuple(n["NodeID"] for n in self._members),
                            overlays=tuple(changed), heap_by_operator=heap,
                            gpu_mem_by_operator=gpu_mem, answered=answered, errors=tuple(errors),
                            silent=tuple(n["NodeID"] for n in self._members if self._silent(n)))


class GroupedNodes:
    """The receiving side: the latest overlay of every node, updated from group readings."""

    def __init__(self) -> None:
        self.overlays: dict[str, NodeOverlay] = {}
        self.readings: dict[int, GroupReading] = {}

    def apply(self, readings: Sequence[GroupReading]) -> None:
        members: set = set()
        for reading in readings:
            self.readings[reading.group] = reading
            for overlay in reading.overlays:
                self.overlays[overlay.node_id or ""] = overlay
            members.update(reading.node_ids)
        for node_id in [n for n in self.overlays if n not in members]:
            del self.overlays[node_id]  # left the cluster, or moved to this machine
        for group in [g for g in self.readings if g not in {r.group for r in readings}]:
            del self.readings[group]
