"""A dataset's physical operators as a graph: who feeds whom, told apart by op id.

Ray Data plans are not always a line: ``zip``, ``union`` and ``join`` join branches, and the same
name appears on several operators. The graph comes from the plan's ``input_ids`` (probe), else
from names where they tell it (one input buffer: a chain), else it has no edges and says so
(``edges_known``). ``lanes`` places it for drawing: one lane (column) per open branch, operators
in topological order, so the terminal and the SVG report draw the same picture. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from raytop.dataset_rows import is_source
from raytop.model import DatasetStats, OperatorStats, Plan, op_key, sum_known

MERGE_CLASSES = ("ZipOperator", "UnionOperator", "JoinOperator")


@dataclass(frozen=True)
class GraphNode:
    key: str  # op id (``op_key`` of its OperatorStats)
    name: str
    label: str  # display: the name, "#index" added when the name is shared
    physical_class: str | None = None
    logical: tuple[str, ...] = ()  # logical names fused into it
    inputs: tuple[str, ...] = ()  # keys of its upstream operators, in input order
    source: bool = False  # Ray's input buffer, not a real operator
    logical_ids: tuple[str, ...] = ()  # LogicalOp ids, when the plan has them


@dataclass(frozen=True)
class PlanGraph:
    nodes: tuple[GraphNode, ...]  # topological order (Ray's topology order)
    edges_known: bool

    def _index(self) -> tuple[dict[str, GraphNode], dict[str, list[GraphNode]]]:
        """(the first node of each key, the nodes reading each key), made on first use: the
        advisor asks for nodes and consumers for every operator of every sample."""
        index = self.__dict__.get("_index_")
        if index is None:
            first: dict[str, GraphNode] = {}
            readers: dict[str, list[GraphNode]] = {}
            for n in self.nodes:
                first.setdefault(n.key, n)
                for k in dict.fromkeys(n.inputs):
                    readers.setdefault(k, []).append(n)
            index = (first, readers)
            object.__setattr__(self, "_index_", index)  # a cache, not a field: not compared
        return index

    def node(self, key: str) -> GraphNode | None:
        return self._index()[0].get(key)

    def consumers(self, key: str) -> list[GraphNode]:
        return list(self._index()[1].get(key, ()))

    def upstream(self, key: str, real_only: bool = True) -> list[str]:
        """Keys feeding ``key``; input buffers left out unless ``real_only`` is False."""
        node = self.node(key)
        if node is None:
            return []
        return [k for k in node.inputs if not (real_only and _is_source_key(self, k))]

    def is_merge(self, key: str) -> bool:
        node = self.node(key)
        return node is not None and len(self.upstream(key)) > 1

    @property
    def linear(self) -> bool:
        real = [n for n in self.nodes if not n.source]
        return self.edges_known and all(len(self.upstream(n.key)) <= 1 for n in real) and all(
            len([c for c in self.consumers(n.key) if not c.source]) <= 1 for n in real)


def _is_source_key(graph: PlanGraph, key: str) -> bool:
    node = graph.node(key)
    return node is not None and node.source


def _labels(names: Sequence[str], keys: Sequence[str]) -> list[str]:
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    out = []
    for i, (name, key) in enumerate(zip(names, keys, strict=True)):
        tail = key.rsplit("_", 1)[-1] if "_" in key else str(i)
        out.append(f"{name} #{tail if tail.isdigit() else i}" if counts[name] > 1 else name)
    return out


def _resolve_inputs(plan: Plan, keys: list[str]) -> list[tuple[str, ...]]:
    """Input keys per physical operator: ``input_ids`` when captured; for older plans, each
    input name resolved to the nearest operator of that name before it (topology order)."""
    out = []
    for i, p in enumerate(plan.physical):
        if p.input_ids:
            by_id = {q.op_id: keys[j] for j, q in enumerate(plan.physical) if q.op_id}
            out.append(tuple(by_id.get(k, k) for k in p.input_ids))
            continue
        found = []
        for name in p.inputs:
            j = next((j for j in range(i - 1, -1, -1) if plan.physical[j].name == name), None)
            if j is not None:
                found.append(keys[j])
        out.append(tuple(found))
    return out


def _keys(ops: Sequence[OperatorStats], plan: Plan) -> list[str]:
    """The op key of each planned operator: its captured op id; for plans recorded before op
    ids, the key of the first not yet matched operator of that name."""
    used: set = set()
    keys = []
    for i, p in enumerate(plan.physical):
        match = None if p.op_id else next(
            (o for o in ops if o.name == p.name and op_key(o) not in used), None)
        key = p.op_id or (op_key(match) if match is not None else f"{p.name}_{i}")
        used.add(key)
        keys.append(key)
    return keys


def _from_plan(ds: DatasetStats, plan: Plan) -> PlanGraph:
    keys = _keys(ds.operators, plan)
    logical_names = {lop.id: lop.name for lop in plan.logical}
    inputs = _resolve_inputs(plan, keys)
    labels = _labels([p.name for p in plan.physical], keys)
    nodes = tuple(
        GraphNode(key=keys[i], name=p.name, label=labels[i], physical_class=p.physical_class,
                  logical=tuple(logical_names.get(x, x) for x in p.logical), inputs=inputs[i],
                  source=p.physical_class == "InputDataBuffer" or p.name == "Input",
                  logical_ids=tuple(x for x in p.logical if x in logical_names))
        for i, p in enumerate(plan.physical))
    known = plan.source != "names" or any(n.inputs for n in nodes) or len(nodes) <= 1
    return PlanGraph(nodes, edges_known=known)


def _from_operators(ops: Sequence[OperatorStats]) -> PlanGraph:
    """Without a plan: a chain when there is one input buffer, else no edges."""
    keys = [op_key(o) for o in ops]
    chain = sum(1 for o in ops if is_source(o)) <= 1
    labels = _labels([o.name for o in ops], keys)
    nodes = tuple(GraphNode(key=keys[i], name=o.name, label=labels[i],
                            physical_class=o.physical_class, logical=tuple(o.logical),
                            inputs=(keys[i - 1],) if chain and i > 0 else (), source=is_source(o))
                  for i, o in enumerate(ops))
    return PlanGraph(nodes, edges_known=chain)


def build_graph(ds: DatasetStats, plan: Plan | None = None) -> PlanGraph:
    plan = plan if plan is not None else ds.plan
    if plan is not None and plan.physical:
        return _from_plan(ds, plan)
    return _from_operators(ds.operators)


# ---- edges ------------------------------------------------------------------------------


def edge_queue(up: OperatorStats | None, down: OperatorStats | None, index: int
               ) -> tuple[int | None, int | None]:
    """(blocks, bytes) between ``up`` and input ``index`` of ``down``: what ``up`` produced and
    nobody took yet, plus what waits at that input of ``down`` (its whole input queue when it
    has one input; per input only where the probe read them)."""
    blocks = [up.output_queue_blocks if up else None]
    nbytes = [up.output_queue_bytes if up else None]
    if down is not None and index < len(down.inputs_queue_blocks):
        blocks.append(down.inputs_queue_blocks[index])
        nbytes.append(down.inputs_queue_bytes[index] if index < len(down.inputs_queue_bytes) else None)
    elif down is not None and not down.inputs_queue_blocks and index == 0:
        blocks.append(down.input_queue_blocks)
        nbytes.append(down.input_queue_bytes)
    return sum_known(blocks), sum_known(nbytes)


# ---- lanes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    key: str
    lane: int  # column of the branch it runs on
    merged: tuple[int, ...] = ()  # lanes of its other inputs, joined into ``lane`` just above it
    open_lanes: tuple[int, ...] = ()  # lanes with an open branch while it is drawn (its own too)


def lanes(graph: PlanGraph) -> list[Placed]:
    """Real operators in topological order, each on a lane: a branch start opens the leftmost
    free lane, a single-input operator continues its input's lane, a merge continues its first
    input's lane and closes the others. Without known edges every operator stays on lane 0."""
    out: list[Placed] = []
    open_: list[str | None] = []  # lane -> key of the operator whose output it carries
    for node in graph.nodes:
        if node.source:
            continue
        ins: list[str | None] = (
            [k for k in graph.upstream(node.key) if k in open_] if graph.edges_known else [])
        if not graph.edges_known:
            ins = [open_[0]] if open_ else []
        if ins:
            own = open_.index(ins[0])
            merged = tuple(sorted(open_.index(k) for k in ins[1:]))
        else:
            own = open_.index(None) if None in open_ else len(open_)
            merged = ()
            if own == len(open_):
                open_.append(None)
        for lane in merged:
            open_[lane] = None
        open_[own] = node.key
        out.append(Placed(node.key, own, merged,
                          tuple(i for i, k in enumerate(open_) if k is not None)))
        while open_ and open_[-1] is None:
            open_.pop()
    return out
