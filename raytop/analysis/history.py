"""A window of recent snapshots and the small readings every rule needs from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..model import DatasetStats, LogicalOp, OperatorStats, Plan, Snapshot
from . import thresholds as th


def queued_blocks(op: OperatorStats) -> Optional[int]:
    """Blocks waiting to be processed by ``op``: external plus internal input queue."""
    parts = [op.input_queue_blocks, op.internal_input_queue_blocks]
    known = [p for p in parts if p is not None]
    return sum(known) if known else None


def busy_actors(op: OperatorStats) -> Optional[int]:
    a = op.actors
    if a is None or a.running is None:
        return None
    return max(0, a.running - (a.idle or 0))


def cluster_cpus(snap: Snapshot) -> Optional[float]:
    vals = [n.num_cpus for n in snap.nodes if n.alive and n.num_cpus is not None]
    return sum(vals) if vals else None


def cluster_gpus(snap: Snapshot) -> Optional[float]:
    vals = [n.num_gpus for n in snap.nodes if n.alive and n.num_gpus is not None]
    return sum(vals) if vals else None


def used_cpus(snap: Snapshot) -> Optional[float]:
    """CPUs held by Ray Data operators of every running dataset (probe usage)."""
    vals = [op.usage.cpu for d in snap.datasets if d.state in (None, "RUNNING")
            for op in d.operators if op.usage is not None and op.usage.cpu is not None]
    return sum(vals) if vals else None


def free_cpus(snap: Snapshot) -> Optional[float]:
    total, used = cluster_cpus(snap), used_cpus(snap)
    if total is None or used is None:
        return None
    return total - used


def fraction(flags: Sequence[Optional[bool]]) -> float:
    """Share of the known samples that are True (unknown ones do not count either way)."""
    known = [f for f in flags if f is not None]
    return sum(1 for f in known if f) / len(known) if known else 0.0


def fmt_bytes(n: Optional[float]) -> str:
    if n is None:
        return "?"
    for unit, size in (("GiB", th.GIB), ("MiB", th.MIB), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def fmt_num(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass
class Window:
    """The snapshots a rule evaluates (oldest first) plus the plans seen so far."""

    snaps: Tuple[Snapshot, ...]
    plans: Dict[str, Plan] = field(default_factory=dict)

    @property
    def t0(self) -> float:
        return self.snaps[0].t

    @property
    def t1(self) -> float:
        return self.snaps[-1].t

    @property
    def span(self) -> Tuple[float, float]:
        return (self.t0, self.t1)

    @property
    def latest(self) -> Snapshot:
        return self.snaps[-1]

    def describe(self) -> str:
        return f"over {self.t1 - self.t0:.0f} s ({len(self.snaps)} samples)"

    def dataset_ids(self) -> List[str]:
        seen: Dict[str, None] = {}
        for s in self.snaps:
            for d in s.datasets:
                seen.setdefault(d.dataset_id, None)
        return list(seen)

    def running(self, dataset_id: str) -> List[Tuple[Snapshot, DatasetStats]]:
        """Samples in which the dataset runs, past its start-up grace period. A sample that
        repeats the previous one's operator figures (Ray's exported series refresh every ~10 s)
        is the same reading, so it counts once."""
        out: List[Tuple[Snapshot, DatasetStats]] = []
        for s in self.snaps:
            d = s.dataset(dataset_id)
            if d is None or d.state not in ("RUNNING", None):
                continue
            if d.start_time is not None and s.t - d.start_time < th.STARTUP_GRACE_S:
                continue
            if out and d.figures_t is not None and d.figures_t == out[-1][1].figures_t:
                continue
            out.append((s, d))
        return out

    def enough(self, samples: Sequence) -> bool:
        if len(samples) < th.MIN_SAMPLES:
            return False
        first, last = samples[0], samples[-1]
        t = (lambda x: x[0].t) if isinstance(first, tuple) else (lambda x: x.t)
        return t(last) - t(first) >= th.MIN_SPAN_S

    def plan(self, dataset_id: str) -> Optional[Plan]:
        return self.plans.get(dataset_id)

    def logical_ops(self, dataset_id: str, op_name: str) -> List[LogicalOp]:
        """The logical operators a physical operator runs, from the probe's plan."""
        plan = self.plan(dataset_id)
        if plan is None:
            return []
        phys = next((p for p in plan.physical if p.name == op_name), None)
        by_id = {l.id: l for l in plan.logical}
        if phys is not None and phys.logical:
            return [by_id[i] for i in phys.logical if i in by_id]
        return [l for l in plan.logical if l.physical == op_name]

    def op_samples(self, dataset_id: str, op_name: str) -> List[Tuple[Snapshot, OperatorStats]]:
        out = []
        for s, d in self.running(dataset_id):
            op = next((o for o in d.operators if o.name == op_name), None)
            if op is not None:
                out.append((s, op))
        return out

    def operator_names(self, dataset_id: str) -> List[str]:
        names: Dict[str, None] = {}
        for _, d in self.running(dataset_id):
            for o in d.operators:
                names.setdefault(o.name, None)
        return list(names)

    def upstream_of(self, dataset_id: str, op_name: str) -> Optional[str]:
        """The physical operator feeding ``op_name`` (plan inputs, else snapshot order)."""
        plan = self.plan(dataset_id)
        if plan is not None:
            phys = next((p for p in plan.physical if p.name == op_name), None)
            if phys is not None and phys.inputs:
                return phys.inputs[0]
        names = self.operator_names(dataset_id)
        if op_name in names:
            i = names.index(op_name)
            return names[i - 1] if i > 0 else None
        return None

    def share(self, samples, pred: Callable) -> float:
        return fraction([pred(*x) if isinstance(x, tuple) else pred(x) for x in samples])


def is_source_op(op: OperatorStats) -> bool:
    """Ray's input buffer, not a real operator."""
    return op.physical_class == "InputDataBuffer" or op.name == "Input"
