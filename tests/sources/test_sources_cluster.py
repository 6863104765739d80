"""Prometheus parsing (pure), the metrics endpoint and the cluster source on the fixture cluster."""

from __future__ import annotations

import math
import time

from raytop.sources.cluster import ClusterSource
from raytop.sources.metrics import MetricsCache, node_endpoint, parse_prometheus, value

SAMPLE = r'''# HELP ray_node_mem_used Memory usage on a ray node
# TYPE ray_node_mem_used gauge
ray_node_mem_used{IsHeadNode="true",ip="10.0.0.1",SessionName="s"} 1.066909696e+09
ray_spill_manager_objects_bytes{Component="raylet",State="Spilled"} 2048.0
ray_spill_manager_objects_bytes{Component="raylet",State="Restored"} 1024.0
ray_data_cpu_budget{dataset="d_0",operator="MapBatches(f)->MapBatches(g)_2"} +Inf
ray_component_rss_mb{Component="ray::MapWorker(MapBatches(M)).submit",odd="a \"q\" b,c}"} 12.5
process_open_fds 17
broken_line{no_value="x"}
garbage
'''


def test_parse_prometheus_names_labels_values():
    m = parse_prometheus(SAMPLE)
    assert m["ray_node_mem_used"] == [({"IsHeadNode": "true", "ip": "10.0.0.1", "SessionName": "s"},
                                       1066909696.0)]
    assert m["process_open_fds"] == [({}, 17.0)]
    labels, v = m["ray_component_rss_mb"][0]
    assert labels["Component"] == "ray::MapWorker(MapBatches(M)).submit"
    assert labels["odd"] == 'a "q" b,c}' and v == 12.5
    assert math.isinf(m["ray_data_cpu_budget"][0][1])
    assert m["ray_data_cpu_budget"][0][0]["operator"] == "MapBatches(f)->MapBatches(g)_2"
    assert "broken_line" not in m and "garbage" not in m


def test_parse_prefix_filter_and_value_helper():
    m = parse_prometheus(SAMPLE, prefixes=("ray_spill", "ray_data"))
    assert set(m) == {"ray_spill_manager_objects_bytes", "ray_data_cpu_budget"}
    assert value(m, "ray_spill_manager_objects_bytes", {"State": "Spilled"}) == 2048.0
    assert value(m, "ray_spill_manager_objects_bytes") == 3072.0
    assert value(m, "ray_spill_manager_objects_bytes", agg="max") == 2048.0
    assert value(m, "ray_data_cpu_budget") is None  # +Inf is no reading
    assert value(m, "ray_node_mem_used") is None  # filtered out
    assert value(None, "x") is None


def test_unreachable_endpoint_gives_none_and_reason():
    cache = MetricsCache(timeout=0.5, first_wait=2.0)
    assert cache.get("127.0.0.1", 1) is None  # nothing listens on port 1
    assert cache.error("127.0.0.1", 1)


def _wait_metrics(cache, host, port, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = cache.get(host, port)
        if m:
            return m
        time.sleep(0.2)
    return None


def test_metrics_endpoint_answers_without_dashboard(ray_cluster):
    # The fixture starts Ray with include_dashboard=False: the endpoint must still be served.
    node = ray_cluster.nodes()[0]
    ep = node_endpoint(node)
    assert ep is not None
    m = _wait_metrics(MetricsCache(first_wait=2.0), *ep)
    assert m is not None, "metrics endpoint unreachable"
    assert "ray_node_mem_total" in m
    assert value(m, "ray_node_mem_total", agg="max") > 0


def test_cluster_source_reads_the_node(ray_cluster):
    src = ClusterSource()
    try:
        part = src.read()
        assert part.ray_version == ray_cluster.__version__
        assert part.address and ":" in part.address
        (node,) = part.nodes
        me = ray_cluster.get_runtime_context().get_node_id()
        assert node.node_id == me and node.alive and node.is_head
        assert node.ip
        assert node.num_cpus == 2.0 and node.num_gpus == 0.0
        assert node.object_store.capacity_bytes == 300 * 1024 * 1024
        assert node.object_store.used_bytes is not None and node.object_store.used_bytes >= 0
        assert node.object_store.spilled_bytes is not None
        assert 0 < node.mem_used_bytes < node.mem_total_bytes
        assert node.cpu_percent is not None and 0.0 <= node.cpu_percent <= 100.0
    finally:
        src.close()


def test_object_store_used_follows_a_put(ray_cluster):
    import numpy as np

    src = ClusterSource()
    try:
        before = src.read().nodes[0].object_store.used_bytes
        ref = ray_cluster.put(np.ones(8 * 1024 * 1024, dtype=np.uint8))  # 8 MiB in plasma
        after = src.read().nodes[0].object_store.used_bytes
        assert after >= before + 8 * 1024 * 1024 - 4096  # the raylet's stats are live
        del ref
    finally:
        src.close()
