"""A window of recent snapshots and the small readings every rule needs from it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import DatasetStats, LogicalOp, OperatorStats, PhysicalOp, Plan, Snapshot, op_key, op_labels
from ..plan_graph import PlanGraph, build_graph
from . import thresholds as th
from .progress import Progress


def busy_actors(op: OperatorStats) -> int | None:
    a = op.actors
    if a is None or a.running is None:
        return None
    return max(0, a.running - (a.idle or 0))


def cluster_cpus(snap: Snapshot) -> float | None:
    vals = [n.num_cpus for n in snap.nodes if n.alive and n.num_cpus is not None]
    return sum(vals) if vals else None


def cluster_gpus(snap: Snapshot) -> float | None:
    vals = [n.num_gpus for n in snap.nodes if n.alive and n.num_gpus is not None]
    return sum(vals) if vals else None


def used_cpus(snap: Snapshot) -> float | None:
    """CPUs held by Ray Data operators of every running dataset (probe usage)."""
    vals = [op.usage.cpu for d in snap.datasets if d.state in (None, "RUNNING")
            for op in d.operators if op.usage is not None and op.usage.cpu is not None]
    return sum(vals) if vals else None


def free_cpus(snap: Snapshot) -> float | None:
    total, used = cluster_cpus(snap), used_cpus(snap)
    if total is None or used is None:
        return None
    return total - used


def held_share(flags: Sequence[bool]) -> float | None:
    """The share of samples a condition held in, when it *holds*: at least ``MIN_SAMPLES`` of
    them and true in at least ``HOLD_FRACTION``; None otherwise."""
    if len(flags) < th.MIN_SAMPLES:
        return None
    share = sum(1 for f in flags if f) / len(flags)
    return share if share >= th.HOLD_FRACTION else None


def fraction(flags: Sequence[bool | None]) -> float:
    """Share of the known samples that are True (unknown ones do not count either way)."""
    known = [f for f in flags if f is not None]
    return sum(1 for f in known if f) / len(known) if known else 0.0


def ops_by_key(d: DatasetStats) -> dict[str, OperatorStats]:
    """op key -> the dataset's first operator with that key (what a scan for the key finds)."""
    out: dict[str, OperatorStats] = {}
    for o in d.operators:
        out.setdefault(op_key(o), o)
    return out


def _pool_keys(d: DatasetStats) -> tuple[str, ...]:
    """Op keys whose operator (the first of its key) is an actor pool."""
    return tuple(k for k, o in ops_by_key(d).items() if o.actors is not None)


def _labels_of(d: DatasetStats) -> dict:
    return op_labels(d.operators)


def _plan_index(plan: Plan) -> tuple[dict[str, PhysicalOp], dict[str, LogicalOp], bool]:
    """(the first physical op each op key names: its op id, else its name or "name_index"; the
    logical ops by id; whether any physical op has an op id)."""
    physical: dict[str, PhysicalOp] = {}
    for i, p in enumerate(plan.physical):
        for key in ((p.op_id,) if p.op_id is not None else (p.name, f"{p.name}_{i}")):
            physical.setdefault(key, p)
    by_id = {lop.id: lop for lop in plan.logical}
    return physical, by_id, any(p.op_id for p in plan.physical)


class SnapCache:
    """What is derived from one snapshot or one dataset of it (or a plan, or a dataset's graph),
    computed once and kept while it stays in the rule window: snapshots are frozen, so nothing
    derived from one changes. The Advisor keeps one across its evaluations (``retain`` after
    each window moves); a Window made without one gets its own. Keyed by identity, the object
    kept with its entry (so its id cannot be reused while the entry lives)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Any, dict[Any, Any]]] = {}
        # dataset id -> (plan, operators, graph) of the last graph built (see Window.graph)
        self.graphs: dict[str, tuple[Plan | None, tuple, PlanGraph]] = {}

    def memo(self, obj: Any) -> dict[Any, Any]:
        e = self._entries.get(id(obj))
        if e is None or e[0] is not obj:
            e = self._entries[id(obj)] = (obj, {})
        return e[1]

    def retain(self, snaps: Sequence[Snapshot], keep: Sequence[Any] = ()) -> None:
        """Forget what belongs to anything but ``snaps``, their datasets and ``keep``."""
        live = {id(x) for x in keep}
        ds_ids = set()
        for s in snaps:
            live.add(id(s))
            for d in s.datasets:
                live.add(id(d))
                ds_ids.add(d.dataset_id)
        for ds_id in [k for k in self.graphs if k not in ds_ids]:
            del self.graphs[ds_id]
        live.update(id(graph) for _, _, graph in self.graphs.values())
        for gone in [k for k in self._entries if k not in live]:
            del self._entries[gone]


@dataclass
class Window:
    """The snapshots a rule evaluates (oldest first) plus the plans seen so far.

    Its readings are computed once per window (the window is one evaluation: nothing in it
    changes); per-snapshot and per-dataset ones once per snapshot, in ``cache`` (``summary``)."""

    snaps: tuple[Snapshot, ...]
    plans: dict[str, Plan] = field(default_factory=dict)
    _graphs: dict[tuple[str, int], PlanGraph] = field(default_factory=dict, repr=False)
    # dataset id -> when it last made progress (``analysis.progress``), kept by the Advisor
    progress: dict[str, Progress] = field(default_factory=dict)
    stall_s: float = th.STALL_S  # no progress for this long is a stall (``stalled``)
    cache: SnapCache = field(default_factory=SnapCache, repr=False, compare=False)
    _memos: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def summary(self, obj: Any, fn: Callable, *args: Any) -> Any:
        """``fn(obj, *args)`` for a snapshot, a dataset of one or a plan, computed once per object
        (and ``args``) while it stays in the window. ``fn`` must read nothing but its arguments."""
        e = self.cache._entries.get(id(obj))  # memo(), inlined: this runs for every sample
        m = e[1] if e is not None and e[0] is obj else self.cache.memo(obj)
        key = (fn, args) if args else fn
        try:
            return m[key]
        except KeyError:
            v = m[key] = fn(obj, *args)
            return v

    def once(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` the first time ``key`` is asked for in this window, then its value."""
        try:
            return self._memos[key]
        except KeyError:
            v = self._memos[key] = compute()
            return v

    def _per_graph(self, dataset_id: str, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per graph object, for what reads nothing but the dataset's graph:
        it lasts as long as the graph does (``_build_graph``)."""
        graph = self.graph(dataset_id)
        if graph is None:
            return compute()
        m = self.cache.memo(graph)
        try:
            return m[key]
        except KeyError:
            v = m[key] = compute()
            return v

    def op_of(self, d: DatasetStats, key: str) -> OperatorStats | None:
        """The dataset's first operator with op key ``key``."""
        return self.summary(d, ops_by_key).get(key)

    @property
    def t0(self) -> float:
        return self.snaps[0].t

    @property
    def t1(self) -> float:
        return self.snaps[-1].t

    @property
    def span(self) -> tuple[float, float]:
        return (self.t0, self.t1)

    @property
    def latest(self) -> Snapshot:
        return self.snaps[-1]

    def describe(self) -> str:
        return f"over {self.t1 - self.t0:.0f} s ({len(self.snaps)} samples)"

    def dataset_ids(self) -> list[str]:
        return list(self.once("dataset_ids", self._dataset_ids))

    def _dataset_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.snaps:
            for d in s.datasets:
                seen.setdefault(d.dataset_id, None)
        return list(seen)

    def running(self, dataset_id: str) -> list[tuple[Snapshot, DatasetStats]]:
        """Samples in which the dataset runs, past its start-up grace period. A sample that
        repeats the previous one's operator figures (Ray's exported series refresh every ~10 s)
        is the same reading, so it counts once."""
        return list(self.once(("running", dataset_id), lambda: self._running(dataset_id)))

    def _running(self, dataset_id: str) -> list[tuple[Snapshot, DatasetStats]]:
        out: list[tuple[Snapshot, DatasetStats]] = []
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

    def judged(self) -> list[tuple[str, list[tuple[Snapshot, DatasetStats]]]]:
        """Every dataset of the window with its running samples, where there are enough of
        them to judge (the prologue of every dynamic rule)."""
        out = []
        for ds_id in self.dataset_ids():
            samples = self.running(ds_id)
            if self.enough(samples):
                out.append((ds_id, samples))
        return out

    def actor_ops(self, dataset_id: str) -> list[str]:
        """Op keys of the dataset's actor-pool operators."""
        def make() -> list[str]:
            pools = set()
            for _, d in self.running(dataset_id):
                pools.update(self.summary(d, _pool_keys))
            return [k for k in self._op_samples(dataset_id) if k in pools]
        return list(self.once(("actor_ops", dataset_id), make))

    def enough(self, samples: Sequence) -> bool:
        if len(samples) < th.MIN_SAMPLES:
            return False
        first, last = samples[0], samples[-1]
        t = (lambda x: x[0].t) if isinstance(first, tuple) else (lambda x: x.t)
        return t(last) - t(first) >= th.MIN_SPAN_S

    def plan(self, dataset_id: str) -> Plan | None:
        return self.plans.get(dataset_id)

    def latest_dataset(self, dataset_id: str) -> DatasetStats | None:
        return self.once(("latest", dataset_id), lambda: self._latest_dataset(dataset_id))

    def _latest_dataset(self, dataset_id: str) -> DatasetStats | None:
        for s in reversed(self.snaps):
            d = s.dataset(dataset_id)
            if d is not None:
                return d
        return None

    def graph(self, dataset_id: str) -> PlanGraph | None:
        """Who feeds whom, by op id (``plan_graph``), from the plan seen and the latest operators."""
        d = self.latest_dataset(dataset_id)
        if d is None:
            return None
        key = (dataset_id, id(d))
        if key not in self._graphs:
            self._graphs[key] = self._build_graph(dataset_id, d)
        return self._graphs[key]

    def _build_graph(self, dataset_id: str, d: DatasetStats) -> PlanGraph:
        """``build_graph``; the last window's graph of the dataset when built from the same plan
        and the same operators (all it reads of them), or when equal to it: one graph object as
        long as the graph stays the same, so what was derived from it holds (``_flags_in``)."""
        plan = self.plan(dataset_id) or d.plan
        ops = tuple((o.name, o.op_id, o.physical_class, o.logical) for o in d.operators)
        last = self.cache.graphs.get(dataset_id)
        if last is not None and last[1] == ops and (last[0] is plan or last[0] == plan):
            return last[2]
        graph = build_graph(d, plan)
        if last is not None and last[2] == graph:
            graph = last[2]
        self.cache.graphs[dataset_id] = (plan, ops, graph)
        return graph

    def label(self, dataset_id: str, key: str) -> str:
        """An operator's display label: its name, "#index" added when the name is shared."""
        d = self.latest_dataset(dataset_id)
        return self.summary(d, _labels_of).get(key, key) if d is not None else key

    def name_of(self, dataset_id: str, key: str) -> str:
        d = self.latest_dataset(dataset_id)
        op = self.op_of(d, key) if d is not None else None
        return op.name if op is not None else key

    def logical_ops(self, dataset_id: str, key: str) -> list[LogicalOp]:
        """The logical operators a physical operator (by op key) runs, from the probe's plan."""
        return list(self.once(("logical", dataset_id, key), lambda: self._logical_ops(dataset_id, key)))

    def _logical_ops(self, dataset_id: str, key: str) -> list[LogicalOp]:
        plan = self.plan(dataset_id)
        if plan is None:
            return []
        name = self.name_of(dataset_id, key)
        physical, by_id, any_ids = self.summary(plan, _plan_index)
        phys = physical.get(key)
        if phys is not None and phys.logical:
            return [by_id[i] for i in phys.logical if i in by_id]
        if phys is None and any_ids:
            return []
        return [lop for lop in plan.logical if lop.physical_id == key
                or (lop.physical_id is None and lop.physical == name)]

    def op_samples(self, dataset_id: str, key: str) -> list[tuple[Snapshot, OperatorStats]]:
        return list(self._op_samples(dataset_id).get(key, ()))

    def _op_samples(self, dataset_id: str) -> dict[str, list[tuple[Snapshot, OperatorStats]]]:
        """``op_samples`` of every operator of the dataset (in order of first appearance), made
        in one pass over its samples."""
        def make() -> dict[str, list[tuple[Snapshot, OperatorStats]]]:
            out: dict[str, list[tuple[Snapshot, OperatorStats]]] = {}
            for s, d in self.running(dataset_id):
                for key, op in self.summary(d, ops_by_key).items():
                    out.setdefault(key, []).append((s, op))
            return out
        return self.once(("op_samples", dataset_id), make)

    def operator_keys(self, dataset_id: str) -> list[str]:
        return list(self._op_samples(dataset_id))

    def upstreams_of(self, dataset_id: str, key: str) -> list[str]:
        """The real operators feeding ``key``: input buffers left out, and a union (which only
        passes blocks on) replaced by the operators feeding it. Empty when the graph's edges
        are not known."""
        return list(self._per_graph(dataset_id, ("upstreams", key),
                                    lambda: self._upstreams_of(dataset_id, key)))

    def _upstreams_of(self, dataset_id: str, key: str) -> list[str]:
        graph = self.graph(dataset_id)
        if graph is None or not graph.edges_known:
            return []
        out: list[str] = []
        for k in graph.upstream(key):
            node = graph.node(k)
            if node is not None and node.physical_class == "UnionOperator":
                out.extend(self.upstreams_of(dataset_id, k))
            else:
                out.append(k)
        return out

    def branch(self, dataset_id: str, key: str) -> list[str]:
        """``key`` and every real operator above it (all of them feed it, directly or not)."""
        return list(self._per_graph(dataset_id, ("branch", key), lambda: self._branch(dataset_id, key)))

    def _branch(self, dataset_id: str, key: str) -> list[str]:
        out, todo = [], [key]
        while todo:
            k = todo.pop()
            if k not in out:
                out.append(k)
                todo.extend(self.upstreams_of(dataset_id, k))
        return out

    def sinks(self, dataset_id: str, d: DatasetStats) -> list[str]:
        """The operators whose output goes to the consumer (no operator reads them)."""
        ops = [o for o in d.operators if not is_source_op(o)]
        graph = self.graph(dataset_id)
        if graph is not None and graph.edges_known:
            return [op_key(o) for o in ops
                    if not [c for c in graph.consumers(op_key(o)) if not c.source]]
        return [op_key(ops[-1])] if ops else []

    def upstream_of(self, dataset_id: str, key: str) -> str | None:
        """The physical operator feeding ``key``: of several (after a union, zip or join), the
        first one still at work in the latest sample, else the first."""
        ups = self.upstreams_of(dataset_id, key)
        d = self.latest_dataset(dataset_id)
        if len(ups) > 1 and d is not None:
            state = {op_key(o): o.state for o in d.operators}
            busy = [k for k in ups if state.get(k) != "FINISHED"]
            return (busy or ups)[0]
        return ups[0] if ups else None

    def share(self, samples, pred: Callable) -> float:
        return fraction([pred(*x) if isinstance(x, tuple) else pred(x) for x in samples])


def is_source_op(op: OperatorStats) -> bool:
    """Ray's input buffer, not a real operator."""
    return op.physical_class == "InputDataBuffer" or op.name == "Input"
