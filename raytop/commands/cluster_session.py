"""How a live session reads its cluster: in raytop's own process, without a Ray driver, and
through the driver bridge only for what needs one.

- cluster: the GCS's node table (by subscription), each raylet's ``GetNodeStats``;
- stats: the series Ray Data's stats actor exports, from its node's metrics endpoint; through
  the bridge (the actor called by a driver) when that endpoint does not answer (no
  ``ray[default]``);
- processes: psutil on this machine's raylets;
- nodes: other machines' raylet stats and dashboard agents' metrics, in groups; a sampler actor
  (through the bridge) on a node whose agent does not answer, unless ``--no-agents``;
- drivers: the GCS's job table.

When Ray's generated gRPC modules cannot be loaded (a release that moved them), every source is
read through the bridge, as raytop did before it read the cluster itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from raytop.errors import RaytopError
from raytop.sources.base import Part
from raytop.sources.bridge import BridgedSource, BridgeError, FallbackSource, RayBridge
from raytop.sources.link import ClusterLink
from raytop.sources.ray_rpc import RpcError, RpcUnavailable, protos

BRIDGED = ("cluster", "stats", "processes", "samplers", "drivers")
NO_AGENTS_ENV = "RAYTOP_NO_AGENTS"
THROUGH_DRIVER_ENV = "RAYTOP_THROUGH_DRIVER"  # "1": every source through the driver bridge
SAMPLER_WAIT_S = 20.0


def light_available() -> bool:
    """Whether raytop can read the cluster itself (Ray's gRPC modules load), unless the user
    asked for the driver path."""
    if os.environ.get(THROUGH_DRIVER_ENV) == "1":
        return False
    try:
        protos()
        return True
    except RpcUnavailable:
        return False


class ClusterSession:
    """The link (in-process reads) and the bridge (a driver, started when first needed)."""

    def __init__(self, address: str | None, *,
                 address_of: Callable[[], str | None] = lambda: None,
                 light: bool | None = None) -> None:
        self.light = light_available() if light is None else light
        self.link = ClusterLink(address, address_of=address_of)
        self.bridge = RayBridge(address, BRIDGED)
        self._address_of = address_of

    @property
    def address(self) -> str | None:
        return self.link.address

    def _bridge_address(self) -> str | None:
        return self.link.address or self._address_of()

    def ready_bridge(self) -> RayBridge:
        """The bridge, its address set (``raytop run``: known once the script started Ray), for
        a call of its own (the view's stacks); RaytopError when the address is not known yet."""
        if self.bridge.address is None:
            self.bridge.address = self._bridge_address()
        if self.bridge.address is None:
            raise RaytopError("the script has not started Ray yet")
        return self.bridge

    def _samplers(self, node_ids: tuple[str, ...]) -> Part:
        if self.bridge.address is None:
            self.bridge.address = self._bridge_address()
        return self.bridge.call("samplers", "read_nodes", node_ids, timeout=SAMPLER_WAIT_S)

    def sources(self) -> list:
        """The bridged-or-light sources of a live session, in the collector's order."""
        if not self.light:
            from raytop.commands.common import LazyBridgedSource

            return [LazyBridgedSource(self.bridge, name, self._bridge_address) for name in BRIDGED]
        from raytop.sources.cluster import ClusterSource
        from raytop.sources.drivers import DriversSource
        from raytop.sources.processes import ProcessSource
        from raytop.sources.remote_nodes import RemoteNodesSource
        from raytop.sources.stats import StatsSource

        agents = os.environ.get(NO_AGENTS_ENV) != "1"
        return [ClusterSource(self.link, others_elsewhere=True),
                FallbackSource(StatsSource(self.link), self.bridge, self._bridge_address),
                ProcessSource(self.link),
                RemoteNodesSource(self.link, samplers=self._samplers if agents else None),
                DriversSource(self.link)]

    def drivers(self) -> tuple:
        """The cluster's alive drivers now (``--pid`` checks)."""
        if not self.light:
            return self.bridge.read("drivers").drivers
        from raytop.sources.drivers import DriversSource

        return DriversSource(self.link).read().drivers

    def check(self) -> None:
        """One line, exit code 2, when nothing answers as a Ray GCS at the address."""
        try:
            if self.light:
                if not self.link.nodes():
                    raise RpcError("the GCS knows no node yet")
            else:
                self.bridge.connect()
        except (RpcError, BridgeError) as e:
            raise RaytopError(f"cannot read the Ray cluster at {self.link.address}: {e}") from None

    def close(self, bridge_timeout: float = 1.0) -> None:
        self.link.close()
        self.bridge.close(timeout=bridge_timeout)


def open_session(address: str | None) -> ClusterSession:
    """The session for ``attach``/``record``/``doctor``: the address resolved (RAY_ADDRESS, else
    the local cluster) and answering, or one line."""
    from raytop.ray_connect import check_reachable, normalize_address, resolve_address

    addr = resolve_address(normalize_address(address or os.environ.get("RAY_ADDRESS") or "auto"))
    check_reachable(addr)
    session = ClusterSession(addr)
    session.check()
    return session


__all__ = ["BRIDGED", "ClusterSession", "open_session", "BridgedSource"]
