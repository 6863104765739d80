"""Reading the cluster without a Ray driver: the gRPC clients, the node table, the datasets from
the stats actor's series, a node from its dashboard agent's page, and a whole session in a
process that never imports Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from raytop.sources.base import NeedsDriver, Part, SourceAbsent
from raytop.sources.bridge import FallbackSource
from raytop.sources.metrics import parse_families, parse_prometheus
from raytop.sources.node_metrics import overlay_from_metrics
from raytop.sources.ray_data_series import datasets_from_series

PAGE = r'''# HELP ray_component_uss_bytes USS usage of all components on the node.
# TYPE ray_component_uss_bytes gauge
ray_component_uss_bytes{Component="raylet",ip="10.0.0.2",pid="7"} 1.7e+07
ray_component_uss_bytes{Component="ray::MapWorker(MapBatches(Model)).submit",ip="10.0.0.2",pid=""} 4.0e+08
ray_component_uss_bytes{Component="ray::MapWorker(MapBatches(Model))",ip="10.0.0.2",pid=""} 1.0e+08
ray_component_uss_bytes{Component="ray::MapBatches(pre)",ip="10.0.0.2",pid=""} 5.0e+07
ray_component_uss_bytes{Component="ray::IDLE",ip="10.0.0.2",pid=""} 3.0e+07
ray_component_uss_bytes{Component="ray::DashboardAgent",ip="10.0.0.2",pid=""} 8.0e+07
# HELP ray_component_gpu_memory_mb GPU memory usage of all components on the node.
# TYPE ray_component_gpu_memory_mb gauge
ray_component_gpu_memory_mb{Component="ray::MapWorker(MapBatches(Model)).submit",ip="10.0.0.2"} 2048.0
# HELP ray_node_cpu_utilization Total CPU usage on a ray node
# TYPE ray_node_cpu_utilization gauge
ray_node_cpu_utilization{ip="10.0.0.2"} 37.5
# HELP ray_node_mem_used Memory usage on a ray node
# TYPE ray_node_mem_used gauge
ray_node_mem_used{ip="10.0.0.2"} 8.0e+09
# HELP ray_node_mem_total Total memory on a ray node
# TYPE ray_node_mem_total gauge
ray_node_mem_total{ip="10.0.0.2"} 6.4e+10
# HELP ray_node_gpus_utilization Total GPUs usage on a ray node
# TYPE ray_node_gpus_utilization gauge
ray_node_gpus_utilization{GpuDeviceName="NVIDIA H100",GpuIndex="0",GpuUuid="GPU-a",ip="10.0.0.2"} 91.0
ray_node_gpus_utilization{GpuDeviceName="NVIDIA H100",GpuIndex="1",GpuUuid="GPU-b",ip="10.0.0.2"} 3.0
# HELP ray_node_gram_used Total GPU RAM usage on a ray node
# TYPE ray_node_gram_used gauge
ray_node_gram_used{GpuIndex="0",ip="10.0.0.2"} 2048.0
ray_node_gram_used{GpuIndex="1",ip="10.0.0.2"} 0.0
# HELP ray_node_gram_available Total GPU RAM available on a ray node
# TYPE ray_node_gram_available gauge
ray_node_gram_available{GpuIndex="0",ip="10.0.0.2"} 79872.0
ray_node_gram_available{GpuIndex="1",ip="10.0.0.2"} 81920.0
# HELP ray_node_gpu_power_milliwatts Current GPU power draw in milliwatts
# TYPE ray_node_gpu_power_milliwatts gauge
ray_node_gpu_power_milliwatts{GpuIndex="0",ip="10.0.0.2"} 350000.0
# HELP ray_data_dataset_state State of dataset
# TYPE ray_data_dataset_state gauge
ray_data_dataset_state{dataset="ds_1",job_id="01000000",start_time="1760000000"} 1.0
ray_data_dataset_state{dataset="ds_0",job_id="01000000",start_time="1759990000"} 2.0
# HELP ray_data_operator_state State of operator
# TYPE ray_data_operator_state gauge
ray_data_operator_state{dataset="ds_1",operator="Input_0"} 2.0
ray_data_operator_state{dataset="ds_1",operator="MapBatches(Model)_1"} 1.0
# HELP ray_data_operator_queued_blocks Queued blocks
# TYPE ray_data_operator_queued_blocks gauge
ray_data_operator_queued_blocks{dataset="ds_1",operator="MapBatches(Model)_1"} 12.0
# HELP ray_data_operator_estimated_total_rows Rows
# TYPE ray_data_operator_estimated_total_rows gauge
ray_data_operator_estimated_total_rows{dataset="ds_1",operator="MapBatches(Model)_1"} 4000.0
# HELP ray_data_operator_estimated_total_rows_bucket not wanted
# TYPE ray_data_operator_estimated_total_rows_bucket gauge
ray_data_operator_estimated_total_rows_bucket{dataset="ds_1",operator="x"} 1.0
'''
MB = 1 << 20


def test_family_blocks_parse_like_lines():
    names = {"ray_node_mem_used", "ray_component_uss_bytes", "ray_data_operator_state",
             "ray_data_operator_estimated_total_rows"}
    fast = parse_families(PAGE, names)
    slow = parse_prometheus(PAGE, [n + "{" for n in names])
    assert fast == slow and set(fast) == names  # not the _bucket family that shares the prefix


def test_a_family_unchanged_since_the_last_page_is_not_parsed_again(monkeypatch):
    from raytop.sources import metrics

    names = {"ray_data_operator_state", "ray_data_operator_queued_blocks"}
    seen: metrics.Blocks = {}
    first = parse_families(PAGE, names, seen)
    parsed = []
    real = metrics.parse_prometheus
    monkeypatch.setattr(metrics, "parse_prometheus",
                        lambda text, pre=None: parsed.append(text) or real(text, pre))
    assert parse_families(PAGE, names, seen) == first and parsed == []
    changed = PAGE.replace('"MapBatches(Model)_1"} 12.0', '"MapBatches(Model)_1"} 13.0')
    again = parse_families(changed, names, seen)
    assert [t.split(" ")[0] for t in parsed] == ["ray_data_operator_queued_blocks"]
    assert again["ray_data_operator_queued_blocks"][0][1] == 13.0
    assert again["ray_data_operator_state"] == first["ray_data_operator_state"]


def test_a_family_read_for_more_series_than_last_time_is_parsed_again():
    """A reader that starts to want a histogram's ``_bucket`` series (``MetricsCache.want``)
    gets them from the next page, even where the block's text did not change."""
    from raytop.sources import metrics

    seen: metrics.Blocks = {}
    name = "ray_data_operator_estimated_total_rows"
    # one block holding the family and its buckets, as Ray's histograms are laid out
    page = PAGE.replace(f"# HELP {name}_bucket not wanted\n# TYPE {name}_bucket gauge\n", "")
    assert name + "_bucket" not in parse_families(page, {name}, seen)
    both = parse_families(page, {name, name + "_bucket"}, seen)
    assert both[name + "_bucket"] == [({"dataset": "ds_1", "operator": "x"}, 1.0)]


def test_a_node_from_its_agents_page():
    ov = overlay_from_metrics("n2", "10.0.0.2", parse_families(PAGE, set(_WANTED)))
    # workers only (raylet and agents left out), per operator name (.submit stripped)
    assert ov.heap_bytes == int(4.0e8 + 1.0e8 + 5.0e7 + 3.0e7)
    assert ov.heap_by_operator == {"MapBatches(Model)": int(5.0e8), "MapBatches(pre)": int(5.0e7)}
    assert ov.gpu_mem_by_operator == {"MapBatches(Model)": 2048 * MB}
    assert ov.cpu_percent == 37.5 and ov.mem_total_bytes == int(6.4e10)
    g0, g1 = ov.gpus
    assert (g0.index, g0.uuid, g0.name, g0.util_percent) == (0, "GPU-a", "NVIDIA H100", 91.0)
    assert g0.mem_used_bytes == 2048 * MB and g0.mem_total_bytes == 81920 * MB
    assert g0.power_watts == 350.0 and g1.power_watts is None and g0.processes == ()


def test_datasets_from_the_stats_actors_series():
    raw = datasets_from_series([parse_families(PAGE, set(_WANTED))])
    assert raw["ds_0"]["state"] == "FINISHED" and raw["ds_0"]["operators"] == {}
    ds = raw["ds_1"]
    assert (ds["state"], ds["job_id"], ds["start_time"], ds["end_time"]) == \
        ("RUNNING", "01000000", 1760000000.0, None)
    assert ds["operators"]["MapBatches(Model)_1"] == {"state": "RUNNING", "queued_blocks": 12,
                                                      "total_rows": 4000}


def test_a_source_that_needs_a_driver_is_read_through_the_bridge():
    class Light:
        name = "stats"

        def read(self):
            raise NeedsDriver("no metrics endpoint")

        def close(self):
            pass

    class Bridge:
        address = "10.0.0.1:6379"
        reads = []

        def read(self, name):
            self.reads.append(name)
            return Part()

    bridge = Bridge()
    src = FallbackSource(Light(), bridge)
    assert src.read() == Part() and src.read() == Part()
    assert bridge.reads == ["stats", "stats"] and src.fell_back == "no metrics endpoint"


def test_node_table_applies_published_changes(ray_cluster):
    from raytop.sources.membership import NodeTable
    from raytop.sources.ray_rpc import GcsClient, protos

    gcs = GcsClient(ray_cluster.get_runtime_context().gcs_address)
    try:
        table = NodeTable(gcs, subscribe=False)
        (me,) = table.nodes()
        assert me["NodeID"] == ray_cluster.get_runtime_context().get_node_id() and me["Alive"]
        version = table.version
        info = protos().gcs_pb2.GcsNodeInfo(node_id=bytes.fromhex(me["NodeID"]), state=1)
        table.apply(info)  # the node died
        (gone,) = table.nodes()
        assert not gone["Alive"] and gone["NodeManagerAddress"] == me["NodeManagerAddress"]
        assert table.version == version + 1
        other = protos().gcs_pb2.GcsNodeInfo(node_id=b"\x01" * 28, state=0,
                                             node_manager_address="10.9.9.9")
        table.apply(other)
        assert {n["NodeID"] for n in table.nodes()} == {me["NodeID"], "01" * 28}
    finally:
        gcs.close()


def test_gcs_client_answers_what_the_driver_api_does(ray_cluster):
    from raytop.sources.ray_rpc import GcsClient

    gcs = GcsClient(ray_cluster.get_runtime_context().gcs_address)
    try:
        (mine,) = gcs.nodes()
        (theirs,) = ray_cluster.nodes()
        for key in ("NodeID", "Alive", "NodeManagerAddress", "NodeManagerPort",
                    "MetricsExportPort", "Resources"):
            assert mine[key] == theirs[key], key
        import os

        assert any(j["DriverPid"] == os.getpid() and not j["IsDead"] for j in gcs.jobs())
        assert gcs.named_actor_node("no-such-actor", "_raytop_test") is None
    finally:
        gcs.close()


_SESSION = r"""
import json, sys
from raytop.commands.cluster_session import ClusterSession
session = ClusterSession(sys.argv[1])
out = {"light": session.light}
for src in session.sources():
    try:
        part = src.read()
        out[src.name] = {"nodes": len(part.nodes), "overlays": len(part.overlays),
                         "drivers": len(part.drivers),
                         "store": [n.object_store.used_bytes for n in part.nodes],
                         "heap": [o.heap_bytes for o in part.overlays]}
    except Exception as e:
        out[src.name] = type(e).__name__
session.close()
out["ray_imported"] = "ray" in sys.modules
print(json.dumps(out))
"""


def test_a_session_reads_the_cluster_without_importing_ray(ray_cluster):
    address = ray_cluster.get_runtime_context().gcs_address
    p = subprocess.run([sys.executable, "-c", _SESSION, address], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["light"] is True and out["ray_imported"] is False
    assert out["cluster"]["nodes"] == 1 and out["cluster"]["store"][0] is not None
    assert out["processes"]["overlays"] == 1 and out["processes"]["heap"][0] > 0
    assert out["drivers"]["drivers"] >= 1  # this test process is a driver of the cluster
    assert out["nodes"] == "SourceAbsent"  # its one node runs here: the processes source reads it


def test_stats_without_a_driver_sees_a_finished_dataset(ray_cluster):
    import ray.data

    from raytop.sources.link import ClusterLink
    from raytop.sources.stats import StatsSource

    assert len(ray.data.range(30, override_num_blocks=3).map_batches(lambda b: b).take_all()) == 30
    link = ClusterLink(ray_cluster.get_runtime_context().gcs_address)
    src = StatsSource(link, timeout=5.0)
    found = None
    deadline = time.monotonic() + 60  # the actor exports every ~10 s
    try:
        while time.monotonic() < deadline and found is None:
            try:
                part = src.read()
            except (SourceAbsent, TimeoutError):
                time.sleep(0.5)
                continue
            found = next((d for d in part.datasets if d.state == "FINISHED"
                          and d.rows_out == 30), None)
            time.sleep(0.5)
    finally:
        link.close()
    assert found is not None, "no finished dataset with its rows from the exported series"
    assert found.source == "stats" and found.job_id and found.end_time is None
    assert [o.name for o in found.operators][:1] == ["Input"]


_WANTED = ("ray_component_uss_bytes", "ray_component_gpu_memory_mb", "ray_node_cpu_utilization",
           "ray_node_mem_used", "ray_node_mem_total", "ray_node_gpus_utilization",
           "ray_node_gram_used", "ray_node_gram_available", "ray_node_gpu_power_milliwatts",
           "ray_data_dataset_state", "ray_data_operator_state", "ray_data_operator_queued_blocks",
           "ray_data_operator_estimated_total_rows")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_link_backs_off_while_the_gcs_does_not_answer(monkeypatch):
    from raytop.sources import link as link_mod
    from raytop.sources.ray_rpc import RpcError

    clock = [100.0]
    monkeypatch.setattr(link_mod.time, "monotonic", lambda: clock[0])
    calls = []

    def down():
        calls.append(clock[0])
        raise RpcError("GetAllNodeInfo: UNAVAILABLE")

    lk = link_mod.ClusterLink("127.0.0.1:1", subscribe=False)
    with pytest.raises(link_mod.Disconnected, match="retrying in 1s: GetAllNodeInfo"):
        lk._guarded(down)
    clock[0] += 0.5  # within the backoff: nothing is sent
    with pytest.raises(link_mod.Disconnected, match="disconnected, retrying in"):
        lk._guarded(down)
    assert len(calls) == 1
    clock[0] += 1.0
    with pytest.raises(link_mod.Disconnected, match="retrying in 2s"):  # the next delay doubles
        lk._guarded(down)
    clock[0] += 2.5
    assert lk._guarded(lambda: "answered") == "answered"  # back: the backoff resets
    with pytest.raises(link_mod.Disconnected, match="retrying in 1s"):
        lk._guarded(down)


def test_a_kept_raylet_is_dropped_once_its_process_ended(monkeypatch):
    from raytop.sources import host

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    kept = [host.LocalRaylet(pid=child.pid, node_id="n1", ip="10.0.0.1", gcs_address=None)]
    monkeypatch.setattr(host, "_raylets", kept)
    monkeypatch.setattr(host, "_raylet_pids", lambda: [])
    assert host.local_raylets() == []
    alive = [host.LocalRaylet(pid=os.getpid(), node_id="n1", ip="10.0.0.1", gcs_address=None)]
    monkeypatch.setattr(host, "_raylets", alive)
    assert host.local_raylets() is alive  # kept: no scan of /proc while it runs
