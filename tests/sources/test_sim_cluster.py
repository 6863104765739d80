"""raytop's in-process read path against a simulated cluster (``benchmarks/sim_cluster.py``):
every node of the GCS's table is in the snapshot, each with the object store figures and worker
count its own raylet served and the heap and GPUs of its own metrics page."""

from __future__ import annotations

import time

import pytest

from benchmarks import sim_cluster as sc
from benchmarks.sim_read import Served

NODES = 20


@pytest.fixture(scope="module")
def served():
    with Served(NODES, distinct=True) as cluster:
        yield cluster


def _snapshot_once_all_answered(collector, nodes: int, timeout_s: float = 60.0):
    """Ticks until every node has its page's heap and its raylet's worker count (pages arrive
    in the background; a raylet that missed its first call is asked again 2 s later)."""
    deadline = time.monotonic() + timeout_s
    snap = collector.tick(wait_s=2.0)
    while time.monotonic() < deadline:
        if sum(1 for n in snap.nodes
               if n.heap_bytes is not None and n.num_workers is not None) == nodes:
            break
        time.sleep(0.2)  # polling the condition above, bounded by the deadline
        snap = collector.tick(wait_s=2.0)
    return snap


def test_every_simulated_node_is_read_with_its_own_figures(served, monkeypatch):
    from raytop.collector import Collector
    from raytop.commands.cluster_session import ClusterSession

    monkeypatch.setenv("RAYTOP_LOCAL_NODES", "none")  # every node is another machine's
    session = ClusterSession(served.address, light=True)
    collector = Collector(session.sources(), interval=1.0)
    try:
        snap = _snapshot_once_all_answered(collector, NODES)
    finally:
        collector.stop()
        session.close()
    assert snap.sources["cluster"] == "ok" and snap.sources["nodes"] == "ok"
    by_id = {n.node_id: n for n in snap.nodes}
    assert set(by_id) == {sc.node_id(i).hex() for i in range(NODES)}
    for i in range(NODES):
        node = by_id[sc.node_id(i).hex()]
        assert node.ip == sc.node_ip(i) and node.alive and node.is_head == (i == 0)
        used = node.object_store.used_bytes
        assert used in {sc.store_used(i, e) for e in range(7)}  # its own raylet's figure
        assert node.object_store.spilled_bytes == (i % 5) * sc.GiB
        assert node.object_store.capacity_bytes == 200 * sc.GiB
        assert node.num_workers == sc.WORKERS
        assert node.num_gpus == sc.GPUS and len(node.gpus) == sc.GPUS  # from its page
        assert node.mem_total_bytes == 1800 * sc.GiB and node.heap_bytes
        assert set(node.heap_by_operator) == set(sc.OPERATORS)
