"""What every source returns, and how it says it could not read.

A source is any object with a ``name`` and a ``read() -> Part`` method. ``read`` runs on a
collector worker thread, never on the UI thread. It raises ``SourceAbsent`` when the thing it reads
does not exist here (no NVIDIA driver, no probe attached, ``ray[default]`` missing); any other
exception marks the source ``stale`` and the collector keeps its last good part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from raytop.model import DatasetStats, DriverInfo, Event, GpuStats, NodeStats, ObjectStore


class SourceAbsent(Exception):
    """The source has nothing to read on this machine/cluster; the message says why."""


class NeedsDriver(Exception):
    """What this source reads is only reachable through a Ray driver here (e.g. no metrics
    endpoint answers, so the stats actor must be called); the message says why."""


@dataclass(frozen=True)
class NodeOverlay:
    """Per-node readings that a node-local source (processes, gpu) adds to a cluster node.

    Matched to a ``NodeStats`` by ``node_id`` when known, else by ``ip``. ``None`` fields leave the
    node's value as it is.
    """

    node_id: str | None = None
    ip: str | None = None
    gpus: tuple[GpuStats, ...] | None = None
    gpu_source: str | None = None
    heap_bytes: int | None = None
    num_workers: int | None = None
    heap_by_operator: Mapping[str, int] | None = None
    cpu_percent: float | None = None
    mem_used_bytes: int | None = None
    mem_total_bytes: int | None = None
    object_store: ObjectStore | None = None  # a node read by a node group, not the cluster
    gpu_mem_by_operator: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Part:
    """One source's contribution to a snapshot. Empty fields contribute nothing."""

    datasets: tuple[DatasetStats, ...] = ()
    nodes: tuple[NodeStats, ...] = ()  # the cluster's node list (cluster source)
    overlays: tuple[NodeOverlay, ...] = ()
    address: str | None = None  # the Ray GCS address, when this source learnt it
    ray_version: str | None = None
    # pid -> operator name for processes on this node (processes source), used to attribute
    # NVML per-process GPU memory to operators.
    pid_operators: Mapping[int, str] = field(default_factory=dict)
    events: tuple[Event, ...] = ()  # things that happened since the last read (dataset finished, ...)
    drivers: tuple[DriverInfo, ...] = ()  # the cluster's alive drivers (drivers source)
    probe_pids: Mapping[int, str] = field(default_factory=dict)  # driver pid -> "env" | "injected"


class Source(Protocol):
    name: str

    def read(self) -> Part: ...

    def close(self) -> None: ...
