"""The stats-actor source on a real pipeline in the fixture cluster (no probe)."""

from __future__ import annotations

import threading
import time

import pytest

from raytop.sources import stats as stats_mod
from raytop.sources.base import SourceAbsent
from raytop.sources.stats import StatsSource, index_ray_data_series


def test_missing_actor_is_absent_and_not_created(ray_cluster, monkeypatch):
    monkeypatch.setattr(stats_mod, "STATS_ACTOR_NAME", "raytop_test_no_such_stats_actor")
    with pytest.raises(SourceAbsent, match="no Ray Data dataset has run"):
        StatsSource().read()
    with pytest.raises(ValueError):  # read-only: the lookup created nothing
        ray_cluster.get_actor("raytop_test_no_such_stats_actor",
                              namespace=stats_mod.STATS_ACTOR_NAMESPACE)


def test_index_ray_data_series_keeps_largest_and_drops_inf():
    m1 = {"ray_data_num_tasks_running": [({"dataset": "d", "operator": "A_1"}, 2.0)],
          "ray_data_cpu_budget": [({"dataset": "d", "operator": "A_1"}, float("inf"))],
          "ray_node_mem_used": [({}, 5.0)]}
    m2 = {"ray_data_num_tasks_running": [({"dataset": "d", "operator": "A_1"}, 3.0),
                                         ({"operator": "A_1"}, 9.0)]}
    idx = index_ray_data_series([m1, None, m2])
    assert idx == {("d", "A_1"): {"ray_data_num_tasks_running": 3.0}}


def _baseline(src, ray):
    """First read: (dataset ids already known, whether the read succeeded)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return {d.dataset_id for d in src.read().datasets}, True
        except SourceAbsent:
            return set(), False  # no dataset ran on this cluster before
        except TimeoutError:
            continue  # the stats actor is busy on this 2-core machine: ask again
    raise AssertionError("the stats actor never answered")


def _slow_pipeline(ray):
    import ray.data
    from ray.data import ActorPoolStrategy

    def pre(batch):
        time.sleep(0.05)
        return batch

    class Model:
        def __call__(self, batch):
            time.sleep(0.25)
            return batch

    return (ray.data.range(400, override_num_blocks=100)
            .map_batches(pre, batch_size=4, num_cpus=0.5)
            .map_batches(Model, batch_size=4, compute=ActorPoolStrategy(size=1)))


def test_dataset_and_operators_from_a_running_pipeline(ray_cluster):
    ds = _slow_pipeline(ray_cluster)
    stop = threading.Event()
    errors = []

    def consume():
        try:
            for _ in ds.iter_batches(batch_size=4):
                if stop.is_set():
                    break
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    src = StatsSource(timeout=5.0)
    known, baseline = _baseline(src, ray_cluster)
    t = threading.Thread(target=consume, daemon=True)
    t.start()
    running = enriched = None
    events = []
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline and t.is_alive():
            try:
                part = src.read()
            except (SourceAbsent, TimeoutError):
                time.sleep(0.3)  # the stats actor is not there or still starting
                continue
            events.extend(part.events)
            mine = [d for d in part.datasets if d.dataset_id not in known]
            if mine and mine[0].state == "RUNNING":
                running = mine[0]
                model = running.operators[-1]
                if model.tasks_finished is not None and model.actors is not None:
                    enriched = running  # the ray_data_* series reached the endpoint
                    break
            time.sleep(0.5)
    finally:
        stop.set()
        t.join(timeout=120)
    assert not errors
    assert running is not None, "the stats actor never showed the dataset running"
    assert running.source == "stats" and running.job_id
    assert running.start_time and running.start_time <= time.time()
    names = [o.name for o in running.operators]
    assert names == ["Input", "ReadRange", "MapBatches(pre)", "MapBatches(Model)"]
    assert [o.op_id for o in running.operators] == [
        "Input_0", "ReadRange_1", "MapBatches(pre)_2", "MapBatches(Model)_3"]
    assert all(o.input_queue_blocks is not None for o in running.operators)
    if baseline:  # raytop looked before the dataset started, so its start is news
        assert any(e.kind == "dataset_started" and e.dataset_id == running.dataset_id
                   for e in events)
    assert enriched is not None, "no ray_data_* series for the running dataset"
    model = enriched.operators[-1]
    assert model.compute == "actor"
    assert model.actors.running is not None and model.actors.running + model.actors.pending >= 1
    assert model.input_queue_bytes is not None and model.rows_out is not None
    assert enriched.operators[2].compute == "task"
    # the histograms come in the same export (their _bucket series): percentiles, no running tasks
    pre = enriched.operators[2].tails
    assert pre is not None and pre.task_s is not None and pre.block_rows is not None
    assert pre.slow_tasks is None
    if pre.task_s.count:
        assert 0 < pre.task_s.p50 <= pre.task_s.p99 and pre.block_rows.p50 >= 1


def test_finished_dataset_state_and_event(ray_cluster):
    import ray.data

    src = StatsSource(timeout=5.0)
    before, baseline = _baseline(src, ray_cluster)
    assert len(ray.data.range(20, override_num_blocks=2).map_batches(lambda b: b).take_all()) == 20
    events = []
    mine = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            part = src.read()
        except TimeoutError:
            continue  # the stats actor is busy on this 2-core machine: ask again
        events.extend(part.events)
        new = [d for d in part.datasets if d.dataset_id not in before]
        if new and new[-1].state == "FINISHED":
            mine = new[-1]
            break
        time.sleep(0.3)
    assert mine is not None
    assert mine.end_time and mine.end_time >= mine.start_time
    assert all(o.state == "FINISHED" for o in mine.operators)
    if baseline:  # a first read happened before the run, so finishing is news
        assert any(e.kind == "dataset_finished" and e.dataset_id == mine.dataset_id
                   for e in events)
