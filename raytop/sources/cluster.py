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
    name = "cluster"

    def __init__(self, link: ClusterLink | None = None, *, rpc_timeout: float = 0.5) -> None:
        self._own_link = link is None
        self._link = link if link is not None else driver_link()
        self._rpc_timeout = rpc_timeout
        self._raylet_failed: dict = {}
        host.node_cpu_percent()  # prime the non-blocking reading

    def _store_stats(self, ip: str, port: int) -> Any:
        key = (ip, int(port))
        try:
            client = self._link.raylet(ip, port)
            client.timeout = self._rpc_timeout
            stats = client.store()
            self._raylet_failed.pop(key, None)
            return stats
        except Exception as e:  # noqa: BLE001 - unreachable raylet: fall back to metrics
            self._raylet_failed[key] = type(e).__name__
            return None

    def _store(self, node: Mapping) -> ObjectStore:
        capacity = (node.get("Resources") or {}).get("object_store_memory")
        ip, port = node.get("NodeManagerAddress"), node.get("NodeManagerPort")
        store = self._store_stats(ip, port) if ip and port else None
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

    def _node(self, node: Mapping, local: set[str], here) -> NodeStats:
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
            object_store=self._store(node) if alive else ObjectStore(),
            # An alive node without the resource has none of it; a dead one reports nothing.
            num_cpus=float(res.get("CPU", 0.0)) if alive else None,
            num_gpus=float(res.get("GPU", 0.0)) if alive else None,
        )

    def read(self) -> Part:
        nodes: list[Mapping] = self._link.nodes()
        local = self._link.local_node_ids(nodes)
        here = host.mem_cpu() if local else (None, None, None)
        out = tuple(self._node(n, local, here) for n in nodes)
        self._link.forget_raylets_except(
            {(str(n.get("NodeManagerAddress")), int(n.get("NodeManagerPort") or 0))
             for n in nodes if n.get("Alive")})
        self._link.metrics.forget_except(ep for ep in map(node_endpoint, nodes) if ep)
        return Part(nodes=out, address=self._link.address, ray_version=self._link.ray_version)

    def close(self) -> None:
        if self._own_link:
            self._link.close()

