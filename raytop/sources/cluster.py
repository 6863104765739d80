"""The cluster's nodes: liveness, resources, object store, and memory and CPU of this machine.

- The node table: the GCS (``ClusterLink.nodes``, followed by subscription): id, ip, head flag,
  alive, logical CPUs/GPUs, object store capacity.
- Object store used and spilled: each raylet's live store stats (``GetNodeStats`` over gRPC, the
  call ``ray memory`` makes). ``spilled_bytes`` is the cumulative bytes spilled on the node.
  Fallback for ``used``: the node's metrics endpoint.
- Memory and CPU of the nodes on this machine: read here, the way Ray's reporter computes them
  (``host.py``). Other nodes' come with their other readings (``node_metrics.py``).

No Ray driver is needed: a session that has one (the bridge, tests) passes no link and the
source reads the cluster that driver is connected to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raytop.model import NodeStats, ObjectStore
from raytop.sources import host
from raytop.sources.base import Part
from raytop.sources.link import ClusterLink
from raytop.sources.metrics import node_endpoint, value

_HEAD_RESOURCE = "node:__internal_head__"
METRICS_READ = ("ray_object_store_used_memory",)


def _int(v: float | None) -> int | None:
    return int(v) if v is not None else None


def local_node_identity() -> tuple[str | None, str | None]:
    """(node id hex, ip) of this machine's Ray node, read without importing Ray: the node id of
    a connected driver (only when Ray is already imported and initialised), the ip of the local
    raylets or of the default route."""
    import sys

    node_id: str | None = None
    ray = sys.modules.get("ray")
    if ray is not None:
        try:
            if ray.is_initialized():
                node_id = ray.get_runtime_context().get_node_id()
        except Exception:  # noqa: BLE001 - not connected: no node id
            node_id = None
    return node_id, host.host_ip()


def driver_link() -> ClusterLink:
    """The link to the cluster this process's Ray driver is connected to."""
    from raytop.sources.link import DriverLink

    return DriverLink()


def _local_mem_cpu() -> tuple[int | None, int | None, float | None]:
    """(used, total, cpu%) of this machine (kept for the sampler actors)."""
    return host.mem_cpu()


class ClusterSource:
    """``others_elsewhere``: the raylets of other machines' nodes are asked by the ``nodes``
    source (it overlays their object store), so this source asks only this machine's: each
    raylet is asked once per tick, not twice."""

    name = "cluster"

    def __init__(self, link: ClusterLink | None = None, *, rpc_timeout: float = 0.5,
                 others_elsewhere: bool = False) -> None:
        self._own_link = link is None
        self._link = link if link is not None else driver_link()
        self._rpc_timeout = rpc_timeout
        self._others_elsewhere = others_elsewhere
        self._built: dict[str, tuple[Mapping, NodeStats]] = {}
        self._table_version: int | None = None
        host.node_cpu_percent()  # prime the non-blocking reading

    def _stores(self, nodes: list[Mapping], local: set[str]) -> dict[str, Any]:
        """node id -> its raylet's store stats (None: no answer), all raylets asked at once."""
        mine = [n for n in nodes if n.get("Alive")
                and (not self._others_elsewhere or n.get("NodeID") in local)]
        keys = {n["NodeID"]: (str(n["NodeManagerAddress"]), int(n["NodeManagerPort"]))
                for n in mine if n.get("NodeManagerAddress") and n.get("NodeManagerPort")}
        try:
            replies = self._link.node_stats(list(keys.values()), timeout=self._rpc_timeout)
        except Exception:  # noqa: BLE001 - no raylet answered: fall back to metrics
            replies = {}
        out: dict[str, Any] = {n["NodeID"]: None for n in mine}
        for node_id, key in keys.items():
            reply = replies.get(key)
            if reply is not None and not isinstance(reply, Exception):
                out[node_id] = reply.store_stats
        return out

    def _store(self, node: Mapping, stores: Mapping[str, Any]) -> ObjectStore:
        capacity = (node.get("Resources") or {}).get("object_store_memory")
        node_id = node.get("NodeID") or ""
        if node_id not in stores:  # read by the nodes source
            return ObjectStore(capacity_bytes=_int(capacity))
        store = stores[node_id]
        used = spilled = None
        if store is not None:
            used = int(store.object_store_bytes_used)
            spilled = int(store.spilled_bytes_total)
            if capacity is None and store.object_store_bytes_avail:
                capacity = store.object_store_bytes_avail  # raylet's "avail" is the capacity
        else:
            ep = node_endpoint(node)
            if ep:
                self._link.metrics.want(METRICS_READ)
                used = _int(value(self._link.metrics.get(*ep), "ray_object_store_used_memory"))
        return ObjectStore(used_bytes=used, capacity_bytes=_int(capacity), spilled_bytes=spilled)

    def _node(self, node: Mapping, local: set[str], here, stores: Mapping[str, Any]) -> NodeStats:
        alive = bool(node.get("Alive", node.get("alive", False)))
        res = node.get("Resources") or {}
        mem_used = mem_total = cpu = None
        if alive and node.get("NodeID") in local:
            mem_used, mem_total, cpu = here
        return NodeStats(
            node_id=node.get("NodeID") or "",
            ip=node.get("NodeManagerAddress"),
            is_head=_HEAD_RESOURCE in res or bool(node.get("IsHeadNode")),
            alive=alive,
            cpu_percent=cpu,
            mem_used_bytes=mem_used,
            mem_total_bytes=mem_total,
            object_store=self._store(node, stores) if alive else ObjectStore(),
            # An alive node without the resource has none of it; a dead one reports nothing.
            num_cpus=float(res.get("CPU", 0.0)) if alive else None,
            num_gpus=float(res.get("GPU", 0.0)) if alive else None,
        )

    def _node_of(self, node: Mapping, local: set[str], here, stores: Mapping[str, Any]
                 ) -> NodeStats:
        """A node read by the nodes source (or dead) is its table entry alone: built again only
        when the entry changed, so that an unchanged node is the same object tick after tick."""
        node_id = node.get("NodeID") or ""
        if node_id in stores or node_id in local:
            return self._node(node, local, here, stores)
        built = self._built.get(node_id)
        if built is None or built[0] is not node:
            built = self._built[node_id] = (node, self._node(node, local, here, stores))
        return built[1]

    def read(self) -> Part:
        nodes: list[Mapping] = self._link.nodes()
        local = self._link.local_node_ids(nodes)
        here = host.mem_cpu() if local else (None, None, None)
        stores = self._stores(nodes, local)
        out = tuple(self._node_of(n, local, here, stores) for n in nodes)
        version = self._link.nodes_version()
        if version != self._table_version:  # a node joined or left: drop what it left behind
            self._table_version = version
            self._built = {k: v for k, v in self._built.items() if v[0] in nodes}
            self._link.forget_raylets_except(
                {(str(n.get("NodeManagerAddress")), int(n.get("NodeManagerPort") or 0))
                 for n in nodes if n.get("Alive")})
            self._link.metrics.forget_except(ep for ep in map(node_endpoint, nodes) if ep)
        return Part(nodes=out, address=self._link.address, ray_version=self._link.ray_version)

    def close(self) -> None:
        if self._own_link:
            self._link.close()

