"""What every source returns, and how it says it could not read.

A source is any object with a ``name`` and a ``read() -> Part`` method. ``read`` runs on a
collector worker thread, never on the UI thread. It raises ``SourceAbsent`` when the thing it reads
does not exist here (no NVIDIA driver, no probe attached, ``ray[default]`` missing); any other
exception marks the source ``stale`` and the collector keeps its last good part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Protocol, Tuple

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

    node_id: Optional[str] = None
    ip: Optional[str] = None
    gpus: Optional[Tuple[GpuStats, ...]] = None
    gpu_source: Optional[str] = None
    heap_bytes: Optional[int] = None
    num_workers: Optional[int] = None
    heap_by_operator: Optional[Mapping[str, int]] = None
    cpu_percent: Optional[float] = None
    mem_used_bytes: Optional[int] = None
    mem_total_bytes: Optional[int] = None
    object_store: Optional[ObjectStore] = None  # a node read by a node group, not the cluster
    gpu_mem_by_operator: Optional[Mapping[str, int]] = None


@dataclass(frozen=True)
class Part:
    """One source's contribution to a snapshot. Empty fields contribute nothing."""

    datasets: Tuple[DatasetStats, ...] = ()
    nodes: Tuple[NodeStats, ...] = ()  # the cluster's node list (cluster source)
    overlays: Tuple[NodeOverlay, ...] = ()
    address: Optional[str] = None  # the Ray GCS address, when this source learnt it
    ray_version: Optional[str] = None
    # pid -> operator name for processes on this node (processes source), used to attribute
    # NVML per-process GPU memory to operators.
    pid_operators: Mapping[int, str] = field(default_factory=dict)
    events: Tuple[Event, ...] = ()  # things that happened since the last read (dataset finished, ...)
    drivers: Tuple[DriverInfo, ...] = ()  # the cluster's alive drivers (drivers source)
    probe_pids: Mapping[int, str] = field(default_factory=dict)  # driver pid -> "env" | "injected"


class Source(Protocol):
    name: str

    def read(self) -> Part: ...

    def close(self) -> None: ...
