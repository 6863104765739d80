"""The ``nodes`` source: every node of the cluster that does not run on this machine.

Read in groups (``node_groups.py``): store stats and worker count from each raylet, heap per
operator, CPU, memory and GPUs from the node's dashboard agent. Every ``FULL_EVERY_S`` a group
sends every member's readings again (a receiver that missed an answer catches up); in between
only what changed. A node whose agent does not answer (``ray`` without ``[default]``) keeps its
store figures; its heap and GPUs are read by a sampler actor when the session allows agents
(``samplers``, through the driver bridge), else stay unknown, and an event says so once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from raytop.model import Event
from raytop.sources.base import NodeOverlay, Part, SourceAbsent
from raytop.sources.link import ClusterLink
from raytop.sources.node_groups import (
    GROUP_SIZE,
    Cadence,
    GroupedNodes,
    GroupReader,
    GroupReading,
    partition,
)

FULL_EVERY_S = 30.0
ALL_LOCAL = "every node of the cluster runs on this machine (the processes source reads them)"


class RemoteNodesSource:
    name = "nodes"

    def __init__(self, link: ClusterLink, *, group_size: int = GROUP_SIZE,
                 samplers: Callable[[tuple[str, ...]], Part] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._link = link
        self._group_size = group_size
        self._samplers = samplers  # node ids -> their samplers' overlays (None: no agents)
        self._clock = clock
        self._readers: dict[int, GroupReader] = {}
        self._grouped = GroupedNodes()
        self._shape: tuple | None = None  # (table version, local ids) the groups were cut for
        self._cadence = Cadence()
        self._full_at: dict[int, float] = {}
        self._told: set[str] = set()  # nodes whose missing agent was reported
        self._events: list[Event] = []

    def _regroup(self, nodes: Sequence[Mapping], local: set[str]) -> None:
        remote = [n for n in nodes if n.get("Alive") and n["NodeID"] not in local]
        groups = partition(remote, self._group_size)
        self._cadence = Cadence.for_nodes(len(remote))
        for index, members in enumerate(groups):
            reader = self._readers.get(index)
            if reader is None:
                reader = self._readers[index] = GroupReader(index, self._link.metrics,
                                                            self._link.node_stats)
            reader.set_members(members)
        for index in [i for i in self._readers if i >= len(groups)]:
            del self._readers[index]

    def readings(self) -> list[GroupReading]:
        nodes = self._link.nodes()
        local = self._link.local_node_ids(nodes)
        shape = (self._link.nodes_version(), frozenset(local))
        if shape != self._shape:
            self._regroup(nodes, local)
            self._shape = shape
        now = self._clock()
        # Every group's due raylets at once: one round trip per tick, not one per group.
        due = {i: r.due_raylets(now, self._cadence.store_every_s) for i, r in self._readers.items()}
        wanted = [key for keys in due.values() for key in keys.values()]
        try:
            replies = self._link.node_stats(wanted) if wanted else {}
        except Exception:  # noqa: BLE001 - no answer at all: each group reports its errors
            replies = {}
        out = []
        for index, reader in self._readers.items():
            full = now - self._full_at.get(index, -1e18) >= FULL_EVERY_S
            if full:
                self._full_at[index] = now
            out.append(reader.read(full=full, now=now, cadence=self._cadence,
                                   asked=(due[index], replies)))
        return out

    def read(self) -> Part:
        readings = self.readings()
        if not readings:
            raise SourceAbsent(ALL_LOCAL)
        self._grouped.apply(readings)
        overlays = dict(self._grouped.overlays)
        silent = tuple(sorted({n for r in readings for n in r.silent}))
        overlays.update(self._sampled(overlays, silent))
        events, self._events = tuple(self._events), []
        return Part(overlays=tuple(overlays.values()), events=events)

    def _sampled(self, overlays: Mapping[str, NodeOverlay],
                 silent: tuple[str, ...]) -> dict[str, NodeOverlay]:
        """Sampler readings for the nodes whose agent does not answer."""
        self._tell(silent)
        if not silent or self._samplers is None:
            return {}
        try:
            part = self._samplers(silent)
        except Exception:  # noqa: BLE001 - the samplers' own events say why
            return {}
        out = {}
        for ov in part.overlays:
            mine = overlays.get(ov.node_id or "")
            if mine is not None:  # the raylet's store figures stay
                ov = NodeOverlay(**{**ov.__dict__, "object_store": mine.object_store,
                                    "num_workers": ov.num_workers or mine.num_workers})
            out[ov.node_id or ""] = ov
        self._events.extend(part.events)
        return out

    def _tell(self, silent: Sequence[str]) -> None:
        for node_id in silent:
            if node_id in self._told:
                continue
            self._told.add(node_id)
            how = ("a sampler actor reads it instead" if self._samplers is not None
                   else "its heap, CPU, memory and GPUs are unknown (--no-agents)")
            self._events.append(Event(
                t=time.time(), kind="source_error",
                message=f"nodes: node {node_id[:12]} exports no metrics (ray[default] missing?): "
                        f"{how}", data={"source": self.name, "node_id": node_id}))

    def close(self) -> None:
        self._readers.clear()
