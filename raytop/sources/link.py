"""What raytop's in-process sources share about the cluster they watch, read without a driver.

One ``ClusterLink`` per session: the GCS client and its node table (followed by subscription),
one gRPC channel per raylet, the metrics cache of the nodes' endpoints, and which of the
cluster's raylets run on this machine (their workers are read with psutil, not through the
metrics endpoint). In ``raytop run`` the address is only known once the script started Ray:
until then every call raises ``SourceAbsent``.

``RAYTOP_LOCAL_NODES`` (comma-separated node ids, or ``none``) overrides which nodes count as this
machine's: tests of a multi-raylet cluster on one machine use it to read some nodes the way
raytop reads other machines.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from raytop.sources import host
from raytop.sources.base import SourceAbsent
from raytop.sources.metrics import MetricsCache
from raytop.sources.ray_rpc import GcsClient, RayletCalls, RayletClient, RpcError

WAITING = "waiting for the job to start Ray (the probe reports the address)"
LOCAL_NODES_ENV = "RAYTOP_LOCAL_NODES"
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # between tries while the GCS does not answer


class Disconnected(RpcError):
    """The GCS did not answer; the message says when raytop tries again."""


def installed_ray_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("ray")
    except Exception:  # noqa: BLE001
        return None


class ClusterLink:
    def __init__(self, address: str | None = None, *,
                 address_of: Callable[[], str | None] | None = None,
                 metrics: MetricsCache | None = None, subscribe: bool = True) -> None:
        self._address = address
        self._address_of = address_of
        self._subscribe = subscribe
        self._lock = threading.Lock()
        self._gcs: GcsClient | None = None
        self._table: Any | None = None  # a membership.NodeTable once connected
        self._raylets: dict[tuple[str, int], RayletClient] = {}
        self._raylet_calls = RayletCalls()
        self._own_metrics = metrics is None
        self.metrics = metrics if metrics is not None else MetricsCache(max_age=5.0)
        self.ray_version = installed_ray_version()
        self._jobs: tuple[float, list[Any]] = (-1e18, [])
        self._actors: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._raylets_for: int | None = None  # node table version of the last raylet scan
        self._failures = 0  # GCS calls failed in a row
        self._retry_at: float | None = None  # no GCS call before this (monotonic)
        self._last_error = ""

    @property
    def address(self) -> str | None:
        if self._address is None and self._address_of is not None:
            found = self._address_of()
            if found:
                self._address = found
        return self._address

    def gcs(self) -> GcsClient:
        with self._lock:
            if self._gcs is None:
                address = self.address
                if not address:
                    raise SourceAbsent(WAITING)
                from raytop.sources.membership import NodeTable

                self._gcs = GcsClient(address)
                self._table = NodeTable(self._gcs, subscribe=self._subscribe)
            return self._gcs

    def _guarded(self, call: Callable[[], Any]) -> Any:
        """``call()`` to the GCS, with a backoff while it does not answer: within the backoff
        nothing is sent and ``Disconnected`` says when the next try is."""
        now = time.monotonic()
        if self._retry_at is not None and now < self._retry_at:
            raise Disconnected(f"disconnected, retrying in {self._retry_at - now:.0f}s: "
                               f"{self._last_error}")
        try:
            out = call()
        except RpcError as e:
            delay = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
            self._failures += 1
            self._retry_at, self._last_error = now + delay, str(e)
            raise Disconnected(f"disconnected, retrying in {delay:.0f}s: {e}") from None
        self._failures, self._retry_at = 0, None
        return out

    def nodes(self) -> list[Any]:
        self.gcs()
        assert self._table is not None
        return self._guarded(self._table.nodes)

    def nodes_version(self) -> int:
        """Changes whenever the node table changed (readers keep what they derived until then)."""
        self.gcs()
        assert self._table is not None
        return self._table.version

    def jobs(self, max_age: float = 5.0) -> list[Any]:
        """The job table (``ray._private.state.jobs()``'s shape), at most ``max_age`` old."""
        at, jobs = self._jobs
        if time.monotonic() - at > max_age:
            jobs = self._guarded(self.gcs().jobs)
            self._jobs = (time.monotonic(), jobs)
        return jobs

    def actor_node(self, name: str, namespace: str, max_age: float = 30.0) -> str | None:
        """The node a named actor runs on (None: no such actor), at most ``max_age`` old; an
        absent actor is looked up again after 2 s."""
        at, node = self._actors.get((name, namespace), (-1e18, None))
        if time.monotonic() - at > (max_age if node else 2.0):
            node = self._guarded(lambda: self.gcs().named_actor_node(name, namespace))
            self._actors[(name, namespace)] = (time.monotonic(), node)
        return node

    def raylet(self, ip: str, port: int) -> RayletClient:
        key = (ip, int(port))
        with self._lock:
            client = self._raylets.get(key)
            if client is None:
                client = self._raylets[key] = RayletClient(ip, port)
            return client

    def node_stats(self, keys: list[tuple[str, int]],
                   timeout: float = 0.5) -> dict[tuple[str, int], Any]:
        """(ip, port) -> that raylet's ``GetNodeStatsReply`` or the ``RpcError`` it gave; all
        the raylets asked at once."""
        self._raylet_calls.timeout = timeout
        return self._raylet_calls.node_stats(keys)

    def forget_raylets_except(self, live: set[tuple[str, int]]) -> None:
        with self._lock:
            for key in [k for k in self._raylets if k not in live]:
                self._raylets.pop(key).close()
        self._raylet_calls.forget_except(live)

    def local_node_ids(self, nodes: list[Mapping[str, Any]] | None = None) -> set[str]:
        """Ids of the cluster's alive nodes whose raylet runs on this machine."""
        forced = os.environ.get(LOCAL_NODES_ENV)
        nodes = nodes if nodes is not None else self.nodes()
        alive = {n["NodeID"] for n in nodes if n.get("Alive")}
        if forced is not None:
            wanted = {x.strip() for x in forced.split(",") if x.strip() and x.strip() != "none"}
            return alive & wanted
        version = self.nodes_version()
        refresh = version != self._raylets_for  # a node joined or left: look again
        self._raylets_for = version
        return alive & {r.node_id for r in host.local_raylets(refresh=refresh)}

    def local_raylet_pids(self, node_ids: set[str]) -> dict[str, int]:
        """node id -> pid of its raylet on this machine."""
        return {r.node_id: r.pid for r in host.local_raylets() if r.node_id in node_ids}

    def close(self) -> None:
        with self._lock:
            if self._table is not None:
                self._table.close()
            if self._gcs is not None:
                self._gcs.close()
            for client in self._raylets.values():
                client.close()
            self._raylets.clear()
            self._raylet_calls.close()
            if self._own_metrics:
                self.metrics.close()
            self._gcs = self._table = None


class DriverLink(ClusterLink):
    """The same questions answered through this process's Ray driver (the driver bridge,
    tests that run Ray in-process): the node and job tables from Ray's own API, raylets and
    metrics as above."""

    def __init__(self) -> None:
        import ray

        super().__init__(ray.get_runtime_context().gcs_address, subscribe=False)
        self._version: tuple[int, Any] = (0, None)

    def nodes(self) -> list[Mapping[str, Any]]:
        import ray

        nodes = ray.nodes()
        shape = tuple((n.get("NodeID"), n.get("Alive")) for n in nodes)
        if shape != self._version[1]:
            self._version = (self._version[0] + 1, shape)
        return nodes

    def nodes_version(self) -> int:
        return self._version[0]

    def jobs(self, max_age: float = 5.0) -> list[Mapping[str, Any]]:
        from raytop.sources.drivers import _job_table

        return _job_table()
