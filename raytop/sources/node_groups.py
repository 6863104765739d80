"""Other machines' nodes, read in groups: one reader per group of nodes, answers pre-summed.

A ``GroupReader`` reads its nodes the way raytop reads any node it cannot see with psutil: the
raylet's ``GetNodeStats`` (object store used and spilled, worker count; all raylets of the group
asked at once) every call, and the node's metrics page (``node_metrics.py``) whenever the
dashboard agent refreshed it. It answers with a ``GroupReading``: per-operator sums over the group
(heap, GPU memory), and per-node detail only for the nodes whose readings changed since its last
answer (``full=True``: all of them), so a quiet node costs the receiver nothing.

Groups of ``GROUP_SIZE`` nodes. Up to ``IN_PROCESS_MAX`` other nodes the readers run in raytop's
own process (``RemoteNodesSource``); beyond, each group is meant to be read by an aggregator in
the cluster (``docs/scaling.md``), so raytop's work per tick is O(groups), not O(nodes).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raytop.model import ObjectStore
from raytop.sources.base import NodeOverlay
from raytop.sources.metrics import MetricsCache, node_endpoint
from raytop.sources.node_metrics import WANTED, overlay_from_metrics

GROUP_SIZE = 32
SILENT_AFTER_S = 20.0  # an agent failing this long is not one that is still starting
IN_PROCESS_MAX = 64
_WORKER = 0  # common_pb2.WorkerType.WORKER


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
    """One group's nodes. ``raylet_of(ip, port)`` gives a ``ray_rpc.RayletClient``."""

    def __init__(self, group: int, metrics: MetricsCache, raylet_of) -> None:
        self.group = group
        self._metrics = metrics
        self._metrics.want(WANTED)
        self._raylet_of = raylet_of
        self._members: list[Mapping[str, Any]] = []
        self._sent: dict[str, NodeOverlay] = {}

    def set_members(self, nodes: Sequence[Mapping[str, Any]]) -> None:
        self._members = list(nodes)
        ids = {n["NodeID"] for n in nodes}
        self._sent = {k: v for k, v in self._sent.items() if k in ids}

    def _stores(self) -> tuple[dict[str, tuple[ObjectStore, int | None]], list[str]]:
        """node id -> (object store, workers), all raylets asked at once."""
        calls: dict[str, tuple[Mapping[str, Any], Any]] = {}
        errors: list[str] = []
        for node in self._members:
            try:
                client = self._raylet_of(node["NodeManagerAddress"], node["NodeManagerPort"])
                calls[node["NodeID"]] = (node, client.node_stats_future())
            except Exception as e:  # noqa: BLE001
                errors.append(f"{node['NodeID'][:12]}: {type(e).__name__}")
        out: dict[str, tuple[ObjectStore, int | None]] = {}
        for node_id, (node, call) in calls.items():
            try:
                reply = call.result()
            except Exception as e:  # noqa: BLE001 - grpc error: that node's store is unknown
                errors.append(f"{node_id[:12]}: raylet {type(e).__name__}")
                continue
            store = reply.store_stats
            capacity = (node.get("Resources") or {}).get("object_store_memory")
            workers = sum(1 for w in reply.core_workers_stats if w.worker_type == _WORKER)
            out[node_id] = (ObjectStore(used_bytes=int(store.object_store_bytes_used),
                                        capacity_bytes=int(capacity) if capacity else None,
                                        spilled_bytes=int(store.spilled_bytes_total)), workers)
        return out, errors

    def _silent(self, node: Mapping[str, Any]) -> bool:
        ep = node_endpoint(node)
        if ep is None:
            return True
        failing = self._metrics.failing_for(*ep)
        return failing is not None and failing >= SILENT_AFTER_S

    def _overlay(self, node: Mapping[str, Any], store) -> tuple[NodeOverlay, bool]:
        ep = node_endpoint(node)
        page = self._metrics.get(*ep) if ep else None
        base = overlay_from_metrics(node["NodeID"], node.get("NodeManagerAddress"), page) \
            if page else NodeOverlay(node_id=node["NodeID"], ip=node.get("NodeManagerAddress"))
        if store is not None:
            base = NodeOverlay(**{**base.__dict__, "object_store": store[0],
                                  "num_workers": store[1]})
        return base, page is not None

    def read(self, full: bool = False) -> GroupReading:
        stores, errors = self._stores()
        heap: dict[str, int] = {}
        gpu_mem: dict[str, int] = {}
        changed, answered = [], 0
        for node in self._members:
            overlay, has_page = self._overlay(node, stores.get(node["NodeID"]))
            answered += has_page
            _add(heap, overlay.heap_by_operator)
            _add(gpu_mem, overlay.gpu_mem_by_operator)
            if full or self._sent.get(node["NodeID"]) != overlay:
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
