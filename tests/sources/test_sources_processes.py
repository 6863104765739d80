"""Process titles -> operators (pure), and heap attribution on a real actor-pool pipeline."""

from __future__ import annotations

import threading
import time

import pytest

from raytop.sources import proctitle
from raytop.sources.processes import ProcessSource

PAD = " " * 60


@pytest.mark.parametrize("title, kind, op, method", [
    # Ray 2.60 actor-pool workers (cmdline is the title, space-padded)
    ("ray::MapWorker(MapBatches(Model))" + PAD, proctitle.ACTOR, "MapBatches(Model)", None),
    ("ray::MapWorker(MapBatches(Model)).submit" + PAD, proctitle.ACTOR, "MapBatches(Model)", "submit"),
    ("ray::MapWorker(MapBatches(pre)->MapBatches(Model)).__init__", proctitle.ACTOR,
     "MapBatches(pre)->MapBatches(Model)", "__init__"),
    ("ray::MapWorker(<initializing>)", proctitle.ACTOR, None, None),
    # task workers are named after the physical operator while running
    ("ray::MapBatches(pre)" + PAD, proctitle.TASK, "MapBatches(pre)", None),
    ("ray::ReadRange->MapBatches(pre)", proctitle.TASK, "ReadRange->MapBatches(pre)", None),
    ("ray::ReadParquet", proctitle.TASK, "ReadParquet", None),
    ("ray::Map(mod.fn)", proctitle.TASK, "Map(mod.fn)", None),
    ("ray::IDLE" + PAD, proctitle.IDLE, None, None),
    # Ray's and Ray Data's helpers, raytop's own sampler: never operators
    ("ray::_StatsActor", proctitle.HELPER, None, None),
    ("ray::_AutoscalingCoordinatorActor", proctitle.HELPER, None, None),
    ("ray::ActorLocationTracker", proctitle.HELPER, None, None),
    ("ray::DashboardAgent", proctitle.HELPER, None, None),
    ("ray::_RaytopSampler.sample", proctitle.HELPER, None, "sample"),
    ("ray::SplitCoordinator.get", proctitle.HELPER, None, "get"),
    # someone else's actor method
    ("ray::Counter.incr", proctitle.OTHER_ACTOR, None, "incr"),
])
def test_parse_title(title, kind, op, method):
    parsed = proctitle.parse_title(title)
    assert parsed is not None
    assert (parsed.kind, parsed.operator, parsed.method) == (kind, op, method)


def test_cmdline_list_and_non_ray_processes():
    assert proctitle.operator_of(["ray::MapWorker(MapBatches(M)).submit", "", ""]) == "MapBatches(M)"
    assert proctitle.parse_title(["/usr/bin/python", "train.py"]) is None
    assert proctitle.parse_title("raylet --node_id=abc") is None
    assert proctitle.parse_title("ray::   ") is None
    assert proctitle.parse_title(None) is None
    assert proctitle.parse_title("ray::DashboardAgent").is_agent
    assert not proctitle.parse_title("ray::_StatsActor").is_agent


def test_heap_attributed_to_actor_operator_while_pipeline_runs(ray_cluster):
    import ray.data
    from ray.data import ActorPoolStrategy

    class _BigModel:
        """Holds ~80 MB of private memory so its worker's USS clearly includes it.
        (Defined in the test so Ray pickles it by value: workers cannot import tests.)"""

        def __init__(self):
            self.weights = bytearray(80 * 1024 * 1024)
            for i in range(0, len(self.weights), 4096):
                self.weights[i] = 1  # touch every page

        def __call__(self, batch):
            time.sleep(0.2)
            return batch

    ds = ray.data.range(200, override_num_blocks=100).map_batches(
        _BigModel, batch_size=2, compute=ActorPoolStrategy(size=1))
    stop = threading.Event()
    errors = []

    def consume():
        try:
            for _ in ds.iter_batches(batch_size=2):
                if stop.is_set():
                    break
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    src = ProcessSource()
    t = threading.Thread(target=consume, daemon=True)
    t.start()
    found = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and t.is_alive():
            part = src.read()
            ov = part.overlays[0]
            heap = dict(ov.heap_by_operator or {})
            if heap.get("MapBatches(_BigModel)", 0) > 80 * 1024 * 1024:
                found = part
                break
            time.sleep(0.5)
    finally:
        stop.set()
        t.join(timeout=120)
    assert not errors
    assert found is not None, "the actor operator never showed up with its heap"
    ov = found.overlays[0]
    assert ov.node_id == ray_cluster.get_runtime_context().get_node_id()
    assert ov.num_workers >= 1
    assert ov.heap_bytes >= ov.heap_by_operator["MapBatches(_BigModel)"]
    assert "MapBatches(_BigModel)" in found.pid_operators.values()
    # the pid really is a Ray worker titled after the operator
    import psutil

    pid = next(p for p, op in found.pid_operators.items() if op == "MapBatches(_BigModel)")
    assert "MapWorker(MapBatches(_BigModel))" in " ".join(psutil.Process(pid).cmdline())
    src.close()


def test_worker_memory_is_private_and_resident(ray_cluster):
    # Heap is RSS minus file-backed and shared pages (what Ray's reporter exports as USS):
    # positive and never above RSS, read for every worker on every call.
    src = ProcessSource()
    workers = src.workers()
    assert workers, "the fixture cluster has Ray workers (e.g. idle ones)"
    assert all(w.rss_bytes and w.rss_bytes > 0 for w in workers)
    assert all(w.uss_bytes is not None and 0 < w.uss_bytes <= w.rss_bytes for w in workers)
    assert all(w.heap_bytes == w.uss_bytes for w in workers)
