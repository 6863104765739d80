"""The consumer's figures: Ray's iteration series (probe-free), the probe's reading of the live
iterator (a real pipeline), and the merge of the two."""

from __future__ import annotations

import time

from raytop.merge import merge_parts
from raytop.model import ConsumerStats, DatasetStats
from raytop.sources.base import Part
from raytop.sources.ray_data_series import consumer_figures, index_iteration_series


def test_iteration_series_summed_over_splits_largest_over_nodes():
    node1 = {"ray_data_iter_user_seconds": [({"dataset": "d", "split": "split_0"}, 4.0),
                                            ({"dataset": "d", "split": "split_1"}, 6.0)],
             "ray_data_iter_batches_total": [({"dataset": "d", "split": "split_0"}, 10.0)],
             "ray_data_num_tasks_running": [({"dataset": "d", "operator": "A_1"}, 3.0)]}
    node2 = {"ray_data_iter_user_seconds": [({"dataset": "d", "split": "split_0"}, 3.0)],
             "ray_data_iter_total_blocked_seconds": [({"dataset": "d", "split": "no_split"},
                                                      float("nan"))]}
    idx = index_iteration_series([node1, None, node2])
    assert idx == {"d": {"ray_data_iter_user_seconds": 10.0, "ray_data_iter_batches_total": 10.0}}
    c = consumer_figures(idx["d"])
    assert (c.user_s, c.batches, c.blocked_s, c.rows) == (10.0, 10, None, None)
    assert consumer_figures({}) is None


def test_merge_takes_the_consumer_from_the_series_when_the_probe_has_none():
    probe = DatasetStats(dataset_id="d", source="probe", state="RUNNING")
    stats = DatasetStats(dataset_id="d", source="stats", consumer=ConsumerStats(user_s=2.0))
    snap = merge_parts(1.0, [Part(datasets=(stats,)), Part(datasets=(probe,))], {})
    (d,) = snap.datasets
    assert d.source == "probe" and d.consumer == ConsumerStats(user_s=2.0)
    own = DatasetStats(dataset_id="d", source="probe", consumer=ConsumerStats(user_s=5.0))
    (d,) = merge_parts(1.0, [Part(datasets=(stats,)), Part(datasets=(own,))], {}).datasets
    assert d.consumer.user_s == 5.0  # the probe's live reading wins


def test_probe_reads_the_live_iterator(ray_cluster):
    import ray

    from raytop.sources import ray_iterator

    assert ray_iterator.watch_iterations() and ray_iterator.watch_iterations()  # once, idempotent
    ds = ray.data.range(400, override_num_blocks=4).map_batches(lambda b: b)
    seen = []
    for i, _ in enumerate(ds.iter_batches(batch_size=50)):
        time.sleep(0.05)  # the loop's own work, counted as user time
        if i == 3:
            dataset_id = ds._current_executor._dataset_id
            seen.append(ray_iterator.read_consumer(dataset_id))
    mid = seen[0]
    # the 4th batch is counted when handed over, its user time when the loop asks for the next
    assert mid is not None and 1 <= mid.batches <= 4 and mid.user_s >= 0.045 * (mid.batches - 1)
    final = ray_iterator.read_consumer(dataset_id)  # the Dataset keeps its iterator's figures
    assert final.batches == 8 and final.rows == 400 and final.user_s >= 0.35
    assert ray_iterator.read_consumer("no_such_dataset") is None
