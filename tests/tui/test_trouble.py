"""Nodes ranked by trouble (raytop.tui.trouble), on hand-built NodeStats."""

from __future__ import annotations

from raytop.model import GpuProcess, GpuStats, NodeStats, ObjectStore
from raytop.tui.nodes_table import BY_TROUBLE, next_sort, sort_nodes
from raytop.tui.sorting import SortOrder
from raytop.tui.trouble import (
    IDLE_HELD,
    gpu_nodes_by_trouble,
    node_trouble,
    nodes_by_trouble,
    worst_first,
)

GiB = 1 << 30


def node(name: str, *, used: int | None = 10 * GiB, cap: int | None = 100 * GiB,
         spilled: int | None = 0, heap: int | None = 1 * GiB, mem_total: int | None = 64 * GiB,
         alive: bool = True, workers: int | None = 4, gpus=(), head: bool = False) -> NodeStats:
    return NodeStats(node_id=name * 8, ip=name, is_head=head, alive=alive, num_workers=workers,
                     object_store=ObjectStore(used, cap, spilled), heap_bytes=heap,
                     mem_total_bytes=mem_total, gpus=tuple(gpus))


def gpu(util: float | None, used: int | None, total: int | None = 80 * GiB, held: int | None = None,
        index: int = 0) -> GpuStats:
    procs = () if held is None else (GpuProcess(pid=7, gpu_mem_bytes=held, operator="Model"),)
    return GpuStats(index=index, util_percent=util, mem_used_bytes=used, mem_total_bytes=total,
                    processes=procs)


def ips(nodes) -> list[str]:
    return [n.ip for n in nodes]


def test_healthy_nodes_keep_the_table_order_and_the_head_is_not_special():
    nodes = [node("a"), node("b", head=True), node("c")]
    assert ips(nodes_by_trouble(nodes)) == ["a", "b", "c"]
    # a fuller store ranks higher, the head node included
    nodes = [node("a"), node("b", head=True, used=50 * GiB), node("c", used=30 * GiB)]
    assert ips(nodes_by_trouble(nodes)) == ["b", "c", "a"]


def test_dead_holding_work_first_then_spilling_then_fullness():
    nodes = [
        node("full", used=95 * GiB),
        node("dead-empty", alive=False, used=0, heap=0, workers=0),
        node("heap", heap=60 * GiB),  # 94 % of the node's memory
        node("spill", spilled=GiB),
        node("dead-busy", alive=False, workers=3),
        node("fine"),
    ]
    ranked = ips(nodes_by_trouble(nodes))
    assert ranked[:2] == ["dead-busy", "spill"]
    assert ranked[2:4] == ["full", "heap"]  # 0.95 before 0.9375
    assert node_trouble(nodes[4]).reasons[0] == "dead holding work, 3 workers"
    assert node_trouble(nodes[1]).level < 0.2  # dead, but nothing was lost with it
    assert node_trouble(nodes[0]).reasons == ("store 95%",)


def test_unknown_readings_add_no_trouble():
    blank = node("blank", used=None, cap=None, spilled=None, heap=None, mem_total=None,
                 workers=None, gpus=[gpu(None, None, None)])
    trouble = node_trouble(blank)
    assert trouble.level == 0.0 and trouble.reasons == ()
    # a store of unknown capacity is not taken for a full one
    assert node_trouble(node("x", used=90 * GiB, cap=None)).level < 0.9


def test_idle_gpu_holding_memory_and_full_gpu_memory():
    busy = node("busy", gpus=[gpu(95, 40 * GiB, held=40 * GiB)])
    idle = node("idle", gpus=[gpu(0, 30 * GiB, held=30 * GiB, index=3)])
    idle_empty = node("idle-empty", gpus=[gpu(0, 300 << 20)])
    full = node("full", gpus=[gpu(99, 79 * GiB, held=78 * GiB, index=1)])
    cpu_only = node("cpu", used=99 * GiB)
    nodes = [busy, idle, idle_empty, full, cpu_only]
    assert node_trouble(idle).gpu_level == IDLE_HELD
    assert node_trouble(idle).reasons == ("GPU3 idle, 30.0G held",)
    assert node_trouble(idle_empty).gpu_level < 0.1
    assert node_trouble(full).reasons == ("GPU1 mem 99%",)
    assert ips(gpu_nodes_by_trouble(nodes)) == ["full", "idle", "busy", "idle-empty"]
    assert ips(nodes_by_trouble(nodes))[:3] == ["cpu", "full", "idle"]


def test_lost_gpu_counts_as_trouble():
    lost = node("lost", gpus=[GpuStats(index=2, lost=True)])
    assert node_trouble(lost).level == 1.0 and node_trouble(lost).reasons == ("GPU2 lost",)


def test_worst_first_is_stable():
    assert worst_first([0.5, 0.9, 0.5, 0.9, 0.0]) == [1, 3, 0, 2, 4]


def test_node_table_sorts_by_a_column_unknown_last_and_cycles_back_to_trouble():
    nodes = [node("b", heap=None), node("a", heap=5 * GiB), node("c", heap=2 * GiB, spilled=GiB)]
    troubles = [node_trouble(n) for n in nodes]
    assert sort_nodes(nodes, troubles, BY_TROUBLE) == [2, 0, 1]
    assert sort_nodes(nodes, troubles, SortOrder("Heap", True)) == [1, 2, 0]
    assert sort_nodes(nodes, troubles, SortOrder("Heap", False)) == [2, 1, 0]
    assert sort_nodes(nodes, troubles, SortOrder("Node", False)) == [1, 0, 2]
    order, seen = BY_TROUBLE, []
    for _ in range(10):
        order = next_sort(order)
        seen.append(order.column)
    assert seen[0] == "Node" and not SortOrder("Node", False).descending
    assert seen[-1] == "Trouble" and order == BY_TROUBLE


def test_levels_without_words_agree_with_the_named_parts():
    from benchmarks.node_sim import ClusterSim
    from raytop.tui.trouble import gpu_parts, node_parts

    built = [node("a", used=85 * GiB, gpus=[gpu(1, 20 * GiB, held=20 * GiB), gpu(90, 79 * GiB)]),
             node("b", alive=False), node("c", spilled=1), node("d", gpus=[gpu(0, 2 * GiB)])]
    for n in [*ClusterSim(40, gpus_per_node=2).snapshot(3).nodes, *built]:
        gpu_levels = [level for g in n.gpus for level, _ in gpu_parts(g)]
        levels = [level for level, _ in node_parts(n)] + gpu_levels
        trouble = node_trouble(n)
        assert trouble.level == max(levels, default=0.0)
        assert trouble.gpu_level == max(gpu_levels, default=0.0)


def test_the_frame_ranks_again_only_nodes_that_changed():
    from raytop.model import Snapshot
    from raytop.tui.frame import FrameBuilder

    kept, spilling = node("a"), node("b", spilled=GiB)
    builder = FrameBuilder()
    first = builder.frame(Snapshot(t=1.0, nodes=(kept, spilling)), ingest=False)
    fuller = node("b", used=90 * GiB, spilled=GiB)
    second = builder.frame(Snapshot(t=2.0, nodes=(fuller, kept)), ingest=False)
    assert second.node_troubles[1] is first.node_troubles[0]  # the same object: not ranked again
    assert second.node_troubles == (node_trouble(fuller), node_trouble(kept))
