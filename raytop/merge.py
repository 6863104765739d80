"""Merging the sources' parts into one Snapshot. Pure: no Ray, no threads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from raytop.model import DatasetStats, DriverInfo, NodeStats, OperatorStats, Snapshot
from raytop.sources.base import NodeOverlay, Part

_OVERLAY_FIELDS = ("gpus", "gpu_source", "heap_bytes", "num_workers", "heap_by_operator",
                   "cpu_percent", "mem_used_bytes", "mem_total_bytes", "object_store",
                   "gpu_mem_by_operator")


def merge_parts(t: float, parts: Sequence[Part], sources: Mapping[str, str]) -> Snapshot:
    nodes: list[NodeStats] = []
    for part in parts:
        nodes.extend(part.nodes)
    index = _NodeIndex(nodes)
    memo = _Memo()
    for part in parts:
        for overlay in part.overlays:
            _apply_overlay(nodes, index, overlay, memo)
    memo.done()
    datasets = _merge_datasets(parts)
    datasets = [_attribute(ds, nodes) for ds in datasets]
    drivers = next((p.drivers for p in parts if p.drivers), ())
    probe_pids: dict[int, str] = {}
    for part in parts:
        probe_pids.update(part.probe_pids)
    datasets = [_with_driver(ds, drivers, probe_pids) for ds in datasets]
    address = _first(p.address for p in parts)
    ray_version = _first(p.ray_version for p in parts)
    return Snapshot(t=t, nodes=tuple(nodes), datasets=tuple(datasets), sources=dict(sources),
                    address=address, ray_version=ray_version,
                    drivers=_drivers(drivers, datasets, probe_pids))


def _first(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)


class _NodeIndex:
    """Where each node of the list is, by id and by ip (the first node of an ip), so that
    applying an overlay does not scan the list: O(nodes) per snapshot, not O(nodes²)."""

    def __init__(self, nodes: Sequence[NodeStats]) -> None:
        self.by_id: dict[str, int] = {}
        self.by_ip: dict[str, int] = {}
        for i, node in enumerate(nodes):
            self.add(i, node)

    def add(self, i: int, node: NodeStats) -> None:
        self.by_id.setdefault(node.node_id, i)
        if node.ip:
            self.by_ip.setdefault(node.ip, i)

    def find(self, ov: NodeOverlay, count: int) -> int | None:
        idx = self.by_id.get(ov.node_id) if ov.node_id else None
        if idx is None and ov.ip:
            idx = self.by_ip.get(ov.ip)
        if idx is None and count == 1 and not ov.node_id:
            idx = 0  # one-node cluster whose IP we could not match (containers with several IPs)
        return idx


class _Memo:
    """The node an overlay made of a node last time, when both are the very same objects again
    (sources hand back the objects they built while nothing changed): at 1,000 nodes, rebuilding
    every node every snapshot is most of the merge. Only what this merge used is kept."""

    _last: dict[tuple[int, int], tuple[NodeStats, NodeOverlay, NodeStats]] = {}

    def __init__(self) -> None:
        self.used: dict[tuple[int, int], tuple[NodeStats, NodeOverlay, NodeStats]] = {}

    def get(self, base: NodeStats, ov: NodeOverlay) -> NodeStats | None:
        found = _Memo._last.get((id(base), id(ov)))  # the entry holds both: ids are not reused
        if found is None or found[0] is not base or found[1] is not ov:
            return None
        self.used[(id(base), id(ov))] = found
        return found[2]

    def put(self, base: NodeStats, ov: NodeOverlay, merged: NodeStats) -> None:
        self.used[(id(base), id(ov))] = (base, ov, merged)

    def done(self) -> None:
        _Memo._last = self.used


def _apply_overlay(nodes: list[NodeStats], index: _NodeIndex, ov: NodeOverlay,
                   memo: _Memo) -> None:
    idx = index.find(ov, len(nodes))
    if idx is not None:
        known = memo.get(nodes[idx], ov)
        if known is not None:
            nodes[idx] = known
            return
    updates = {f: getattr(ov, f) for f in _OVERLAY_FIELDS if getattr(ov, f) is not None}
    if idx is None:
        node = NodeStats(node_id=ov.node_id or (f"local:{ov.ip}" if ov.ip else "local"),
                         ip=ov.ip, **updates)
        nodes.append(node)
        index.add(len(nodes) - 1, node)
        return
    base = nodes[idx]
    # Cluster-wide readings (metrics endpoint) win over node-local ones for cpu/mem when present.
    for f in ("cpu_percent", "mem_used_bytes", "mem_total_bytes"):
        if getattr(base, f) is not None:
            updates.pop(f, None)
    nodes[idx] = replace(base, **updates)
    memo.put(base, ov, nodes[idx])


def _merge_datasets(parts: Sequence[Part]) -> list[DatasetStats]:
    by_id: dict[str, DatasetStats] = {}
    # Probe data is complete; the stats actor only fills datasets the probe does not know.
    ordered = sorted(parts, key=lambda p: 0 if any(d.source == "probe" for d in p.datasets) else 1)
    for part in ordered:
        for ds in part.datasets:
            known = by_id.setdefault(ds.dataset_id, ds)
            if known is not ds and known.consumer is None and ds.consumer is not None:
                # the probe had not seen the iterator: Ray's exported iteration series did
                by_id[ds.dataset_id] = replace(known, consumer=ds.consumer)
    return sorted(by_id.values(), key=lambda d: (d.start_time or 0.0, d.dataset_id))


def _with_driver(ds: DatasetStats, drivers: Sequence[DriverInfo],
                 probe_pids: Mapping[int, str]) -> DatasetStats:
    """The driver pid of a dataset the stats actor reported (through its job), and how the
    probe came to be in that driver."""
    pid = ds.driver_pid
    if pid is None and ds.job_id:
        pid = next((d.pid for d in drivers if d.job_id == ds.job_id), None)
    probe = ds.probe if ds.probe is not None else probe_pids.get(pid) if pid is not None else None
    if pid == ds.driver_pid and probe == ds.probe:
        return ds
    return replace(ds, driver_pid=pid, probe=probe)


def _drivers(drivers: Sequence[DriverInfo], datasets: Sequence[DatasetStats],
             probe_pids: Mapping[int, str]) -> tuple:
    out = []
    for drv in drivers:
        ids = tuple(d.dataset_id for d in datasets
                    if d.driver_pid == drv.pid or (drv.job_id and d.job_id == drv.job_id))
        if drv.pid in probe_pids:
            drv = replace(drv, level="probe", why=None)
        out.append(replace(drv, datasets=ids) if ids != drv.datasets else drv)
    return tuple(out)


def _attribute(ds: DatasetStats, nodes: Sequence[NodeStats]) -> DatasetStats:
    """Heap and GPU memory per operator, summed over nodes, from the node-side readings."""
    heap: dict[str, int] = {}
    heap_seen = False
    gpu_mem: dict[str, int] = {}
    gpu_seen = False
    for node in nodes:
        if node.heap_bytes is not None:
            heap_seen = True
        for op, b in node.heap_by_operator.items():
            heap[op] = heap.get(op, 0) + int(b)
        for gpu in node.gpus:
            if gpu.processes or gpu.mem_used_bytes is not None:
                gpu_seen = True
            for proc in gpu.processes:
                if proc.operator and proc.gpu_mem_bytes is not None:
                    gpu_mem[proc.operator] = gpu_mem.get(proc.operator, 0) + proc.gpu_mem_bytes
    if not heap_seen and not gpu_seen:
        return ds
    owners = _name_owners(ds.operators)
    ops = tuple(_attribute_op(op, owners, heap if heap_seen else None, gpu_mem if gpu_seen else None)
                for op in ds.operators)
    shared = sorted({op.name for op in ds.operators if owners.get(op.name) is _AMBIGUOUS
                     and (heap.get(op.name) or gpu_mem.get(op.name))})
    notes = ds.notes + tuple(
        f"heap and GPU memory of the {sum(1 for o in ds.operators if o.name == n)} operators named "
        f"{n} are not split: their worker processes carry only that name"
        for n in shared if not any(n in note for note in ds.notes))
    return replace(ds, operators=ops, notes=notes)


_AMBIGUOUS = object()


def _live(op: OperatorStats) -> bool:
    return bool(op.tasks_running) or bool(op.actors is not None and op.actors.running)


def _name_owners(ops: Sequence[OperatorStats]) -> dict[str, object]:
    """Process titles carry only an operator's name (``ray::MapWorker(<name>)``). For each name,
    the one operator its processes belong to: the only operator of that name, or the only one of
    them with live tasks or actors; ``_AMBIGUOUS`` when several of that name have live work."""
    by_name: dict[str, list[OperatorStats]] = {}
    for op in ops:
        by_name.setdefault(op.name, []).append(op)
    owners: dict[str, object] = {}
    for name, same in by_name.items():
        if len(same) == 1:
            owners[name] = same[0]
            continue
        live = [o for o in same if _live(o)]
        owners[name] = live[0] if len(live) == 1 else _AMBIGUOUS if live else None
    return owners


def _attribute_op(op: OperatorStats, owners: Mapping[str, object], heap: dict[str, int] | None,
                  gpu_mem: dict[str, int] | None) -> OperatorStats:
    owner = owners.get(op.name)
    if owner is _AMBIGUOUS and _live(op):
        return op  # one of several same-named operators at work: whose memory it is is unknown
    mine = owner is op
    updates: dict[str, Any] = {}  # field -> new value, for dataclasses.replace
    if heap is not None and op.heap_bytes is None:
        # An operator with no live worker right now holds no heap: 0 is a reading, not a guess.
        # Same-named operators none of which is at work share whatever the name holds: unknown.
        held = heap.get(op.name, 0) if mine else (0 if owner is not None or not heap.get(op.name)
                                                  else None)
        updates["heap_bytes"] = held if op.compute in ("task", "actor") else (
            heap.get(op.name) if mine else None)
    if gpu_mem is not None and op.gpu_mem_bytes is None and mine and op.name in gpu_mem:
        updates["gpu_mem_bytes"] = gpu_mem[op.name]
    return replace(op, **updates) if updates else op
