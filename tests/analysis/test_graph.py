"""Plans that are graphs, operators that share a name: ids, lanes, bottleneck and upstream, on
hand-built snapshots (the real pipelines are in tests/demos/test_graph_pipelines.py)."""

from __future__ import annotations

from raytop.analysis.bottleneck import find_bottleneck
from raytop.analysis.window import Window
from raytop.merge import _attribute
from raytop.model import (
    ActorCounts,
    DatasetStats,
    NodeStats,
    OperatorStats,
    PhysicalOp,
    Plan,
    Snapshot,
    op_labels,
)
from raytop.plan_graph import build_graph, lanes
from raytop.sources.stats import names_plan

from .builders import T0, node

BRANCH = "ReadRange->MapBatches(<lambda>)"
ZIP = "ZipOperator(MapBatches(<lambda>), MapBatches(<lambda>))"
# Ray's topology for a.zip(b).map_batches(slow).union(c): (name, class, input indexes)
TOPOLOGY = [("Input", "InputDataBuffer", ()), (BRANCH, "TaskPoolMapOperator", (0,)),
            ("Input", "InputDataBuffer", ()), (BRANCH, "TaskPoolMapOperator", (2,)),
            (ZIP, "ZipOperator", (1, 3)), ("MapBatches(slow)", "TaskPoolMapOperator", (4,)),
            ("Input", "InputDataBuffer", ()), (BRANCH, "TaskPoolMapOperator", (6,)),
            ("UnionOperator(MapBatches(slow), MapBatches(<lambda>))", "UnionOperator", (5, 7)),
            ("Project", "TaskPoolMapOperator", (8,)), ("AggregateNumRows", "AggregateNumRows", (9,))]
IDS = [f"{name}_{i}" for i, (name, _, _) in enumerate(TOPOLOGY)]


def _plan() -> Plan:
    return Plan(physical=tuple(
        PhysicalOp(name=name, physical_class=cls, op_id=IDS[i], inputs=tuple(TOPOLOGY[k][0] for k in ins),
                   input_ids=tuple(IDS[k] for k in ins), logical=tuple(name.split("->")))
        for i, (name, cls, ins) in enumerate(TOPOLOGY)), source="probe")


def _ops(figures=None) -> tuple:
    figures = figures or {}
    return tuple(OperatorStats(name=name, physical_class=cls, op_id=IDS[i],
                               compute="task" if cls == "TaskPoolMapOperator" else "other",
                               **figures.get(i, {}))
                 for i, (name, cls, _) in enumerate(TOPOLOGY))


def test_same_named_operators_get_their_index_and_the_graph_joins_branches():
    ds = DatasetStats("d", state="RUNNING", operators=_ops(), plan=_plan())
    labels = op_labels(ds.operators)
    assert [labels[i] for i in (IDS[1], IDS[3], IDS[7])] == [f"{BRANCH} #1", f"{BRANCH} #3",
                                                             f"{BRANCH} #7"]
    assert labels[IDS[5]] == "MapBatches(slow)"  # unique names stay as they are
    graph = build_graph(ds)
    assert graph.edges_known and not graph.linear
    assert graph.upstream(IDS[4]) == [IDS[1], IDS[3]] and graph.is_merge(IDS[4])
    placed = {p.key: p for p in lanes(graph)}
    assert (placed[IDS[1]].lane, placed[IDS[3]].lane) == (0, 1)
    assert placed[IDS[4]].lane == 0 and placed[IDS[4]].merged == (1,)
    assert placed[IDS[7]].lane == 1 and placed[IDS[8]].merged == (1,)
    assert IDS[0] not in placed  # input buffers are not drawn


def test_names_alone_give_no_edges_for_several_input_buffers():
    ops = _ops()
    plan = names_plan(ops)
    assert plan.source == "names" and all(not p.input_ids for p in plan.physical)
    assert not build_graph(DatasetStats("d", operators=ops, plan=plan)).edges_known
    chain = tuple(OperatorStats(n, op_id=f"{n}_{i}") for i, n in enumerate(("Input", "A", "B")))
    assert names_plan(chain).physical[2].input_ids == ("A_1",)


def _snap(i: int, figures: dict, state="RUNNING") -> Snapshot:
    d = DatasetStats("d", state=state, operators=_ops(figures), plan=_plan(), start_time=T0 - 10)
    return Snapshot(t=T0 + i, nodes=(node(),), datasets=(d,))


def test_the_slow_branch_feeding_a_zip_is_the_bottleneck_not_the_zip():
    # Branch #1 done, branch #3 still reading (held by ResourceBudget like Ray's first operators
    # are), the zip holding #1's blocks with no task running: it waits for #3.
    figures = {1: dict(state="FINISHED", rows_out=30_000, rows_total=30_000, input_queue_blocks=0,
                       tasks_running=0),
               3: dict(rows_out=9_000, rows_total=30_000, input_queue_blocks=12, tasks_running=2,
                       backpressure=("tasks:ResourceBudget",)),
               4: dict(input_queue_blocks=0, internal_input_queue_blocks=20, tasks_running=0,
                       inputs_queue_blocks=(20, 0)),
               5: dict(input_queue_blocks=0, tasks_running=0)}
    snaps = [_snap(i, figures) for i in range(12)]
    assert find_bottleneck(snaps, "d") == IDS[3]
    # the same numbers keyed by name would have mixed #1, #3 and #7 into one operator
    assert len({o.op_id for o in snaps[0].datasets[0].operators if o.name == BRANCH}) == 3


def test_a_union_is_looked_through_to_the_operators_feeding_it():
    figures = {1: dict(state="FINISHED"), 5: dict(state="RUNNING")}
    win = Window(tuple(_snap(i, figures) for i in range(3)))
    assert win.upstreams_of("d", IDS[9]) == [IDS[5], IDS[7]]  # Project <- Union <- (slow, #7)
    assert win.upstream_of("d", IDS[4]) == IDS[3]  # the zip's first input still at work
    assert win.label("d", IDS[7]) == f"{BRANCH} #7"


def test_heap_goes_to_the_one_same_named_operator_at_work_else_stays_unknown():
    n = NodeStats("n1", heap_bytes=900, heap_by_operator={BRANCH: 600})
    one_live = DatasetStats("d", operators=_ops({1: dict(tasks_running=0), 3: dict(tasks_running=2),
                                                7: dict(tasks_running=0)}))
    heap = {o.op_id: o.heap_bytes for o in _attribute(one_live, [n]).operators if o.name == BRANCH}
    assert heap == {IDS[1]: 0, IDS[3]: 600, IDS[7]: 0}
    two_live = DatasetStats("d", operators=_ops({1: dict(tasks_running=1), 3: dict(tasks_running=1)}))
    out = _attribute(two_live, [n])
    heap = {o.op_id: o.heap_bytes for o in out.operators if o.name == BRANCH}
    assert heap == {IDS[1]: None, IDS[3]: None, IDS[7]: 0}
    assert any("not split" in note and BRANCH in note for note in out.notes)
    actor = DatasetStats("d", operators=(OperatorStats("MapBatches(M)", op_id="MapBatches(M)_1",
                                                       compute="actor", actors=ActorCounts(1)),))
    assert _attribute(actor, [NodeStats("n1", heap_bytes=5, heap_by_operator={"MapBatches(M)": 5})
                              ]).operators[0].heap_bytes == 5
