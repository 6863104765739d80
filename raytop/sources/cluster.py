"""The cluster's nodes: liveness, resources, object store, memory and CPU per node.

- ``ray.nodes()``: id, ip, head flag, alive, logical CPUs/GPUs, object store capacity.
- Object store used and spilled: each raylet's live store stats (``GetNodeStats`` over gRPC, the
  call ``ray memory`` makes; token auth handled by Ray's channel). ``spilled_bytes`` is the
  cumulative bytes spilled on the node. Fallback for ``used``: the metrics endpoint.
- Memory and CPU: this node from Ray's own cgroup-aware readers and psutil (live); other nodes from
  their metrics endpoint (``ray_node_mem_used``/``_total``, ``ray_node_cpu_utilization``), which
  Ray refreshes every few seconds.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Mapping, Optional, Tuple

from raytop.model import NodeStats, ObjectStore
from raytop.sources.base import Part
from raytop.sources.metrics import MetricsCache, node_endpoint, shared_cache, value

_HEAD_RESOURCE = "node:__internal_head__"
METRICS_READ = ("ray_object_store_used_memory", "ray_node_mem_used", "ray_node_mem_total",
                "ray_node_cpu_utilization")


def _int(v: Optional[float]) -> Optional[int]:
    return int(v) if v is not None else None


def local_node_identity() -> Tuple[Optional[str], Optional[str]]:
    """(node id hex, ip) of the Ray node this process runs on; None for what is unknown."""
    node_id: Optional[str] = None
    ip: Optional[str] = None
    try:
        import ray

        if ray.is_initialized():
            node_id = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - not connected: no node id
        node_id = None
    try:
        from ray.util import get_node_ip_address

        ip = get_node_ip_address()
    except Exception:  # noqa: BLE001
        ip = None
    return node_id, ip


class _RayletStats:
    """Live object store stats of one raylet, over a cached gRPC channel."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        from ray._common.network_utils import build_address
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import node_manager_pb2, node_manager_pb2_grpc

        self._request = node_manager_pb2.GetNodeStatsRequest(include_memory_info=False)
        self._channel = init_grpc_channel(build_address(host, port))
        self._stub = node_manager_pb2_grpc.NodeManagerServiceStub(self._channel)
        self._timeout = timeout

    def store(self) -> Any:
        return self._stub.GetNodeStats(self._request, timeout=self._timeout).store_stats

    def close(self) -> None:
        try:
            self._channel.close()
        except Exception:  # noqa: BLE001
            pass


def _local_mem_cpu() -> Tuple[Optional[int], Optional[int], Optional[float]]:
    """(used, total, cpu%) of this machine, the way Ray's reporter agent computes them."""
    import psutil

    used = total = None
    try:
        from ray._common.utils import get_system_memory
        from ray._private.utils import get_used_memory

        total, used = int(get_system_memory()), int(get_used_memory())
        used = max(0, min(used, total))
    except Exception:  # noqa: BLE001 - Ray internals moved: plain psutil
        try:
            vm = psutil.virtual_memory()
            total, used = int(vm.total), int(vm.total - vm.available)
        except Exception:  # noqa: BLE001
            pass
    try:
        # Non-blocking: percent since the previous call (0.0 on the very first, hence primed).
        cpu: Optional[float] = float(psutil.cpu_percent(interval=None))
    except Exception:  # noqa: BLE001
        cpu = None
    return used, total, cpu


class ClusterSource:
    name = "cluster"

    def __init__(self, *, metrics: Optional[MetricsCache] = None, rpc_timeout: float = 0.5) -> None:
        self._metrics = metrics if metrics is not None else shared_cache()
        self._metrics.want(METRICS_READ)
        self._rpc_timeout = rpc_timeout
        self._raylets: Dict[Tuple[str, int], _RayletStats] = {}
        self._raylet_failed: Dict[Tuple[str, int], str] = {}
        self._lock = threading.Lock()
        self._local_id, self._local_ip = local_node_identity()
        try:
            import psutil

            psutil.cpu_percent(interval=None)  # prime the non-blocking reading
        except Exception:  # noqa: BLE001
            pass

    def _store_stats(self, host: str, port: int) -> Any:
        key = (host, int(port))
        with self._lock:
            client = self._raylets.get(key)
        try:
            if client is None:
                client = _RayletStats(host, port, self._rpc_timeout)
                with self._lock:
                    self._raylets[key] = client
            stats = client.store()
            self._raylet_failed.pop(key, None)
            return stats
        except Exception as e:  # noqa: BLE001 - unreachable raylet: fall back to metrics
            self._raylet_failed[key] = f"{type(e).__name__}"
            return None

    def _is_local(self, node: Mapping) -> bool:
        if self._local_id is not None:
            return node.get("NodeID") == self._local_id
        return self._local_ip is not None and node.get("NodeManagerAddress") == self._local_ip

    def _node(self, node: Mapping) -> NodeStats:
        alive = bool(node.get("Alive", node.get("alive", False)))
        res = node.get("Resources") or {}
        ip = node.get("NodeManagerAddress")
        capacity = res.get("object_store_memory")
        used = spilled = None
        mem_used = mem_total = None
        cpu = None
        if alive:
            port = node.get("NodeManagerPort")
            store = self._store_stats(ip, port) if ip and port else None
            if store is not None:
                used = int(store.object_store_bytes_used)
                spilled = int(store.spilled_bytes_total)
                if capacity is None and store.object_store_bytes_avail:
                    capacity = store.object_store_bytes_avail  # raylet's "avail" is the capacity
            ep = node_endpoint(node)
            metrics = self._metrics.get(*ep) if ep else None
            if used is None:
                used = _int(value(metrics, "ray_object_store_used_memory"))
            if self._is_local(node):
                mem_used, mem_total, cpu = _local_mem_cpu()
            else:
                mem_used = _int(value(metrics, "ray_node_mem_used", agg="max"))
                mem_total = _int(value(metrics, "ray_node_mem_total", agg="max"))
                cpu = value(metrics, "ray_node_cpu_utilization", agg="max")
        return NodeStats(
            node_id=node.get("NodeID") or "",
            ip=ip,
            is_head=_HEAD_RESOURCE in res,
            alive=alive,
            cpu_percent=cpu,
            mem_used_bytes=mem_used,
            mem_total_bytes=mem_total,
            object_store=ObjectStore(used_bytes=used, capacity_bytes=_int(capacity),
                                     spilled_bytes=spilled),
            # An alive node without the resource has none of it; a dead one reports nothing.
            num_cpus=float(res.get("CPU", 0.0)) if alive else None,
            num_gpus=float(res.get("GPU", 0.0)) if alive else None,
        )

    def read(self) -> Part:
        import ray

        nodes: List[Mapping] = ray.nodes()
        out = tuple(self._node(n) for n in nodes)
        live = {(n.get("NodeManagerAddress"), int(n.get("NodeManagerPort") or 0))
                for n in nodes if n.get("Alive")}
        with self._lock:
            for key in [k for k in self._raylets if k not in live]:
                self._raylets.pop(key).close()
        self._metrics.forget_except(ep for ep in map(node_endpoint, nodes) if ep)
        try:
            address = ray.get_runtime_context().gcs_address
        except Exception:  # noqa: BLE001
            address = None
        return Part(nodes=out, address=address, ray_version=ray.__version__)

    def close(self) -> None:
        with self._lock:
            for client in self._raylets.values():
                client.close()
            self._raylets.clear()
