"""The report's figures, checked against values computed by hand (see conftest.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from raytop.report.history import History
from raytop.report.series import build_charts, minmax_downsample
from raytop.report.summary import aggregate

MiB = 1 << 20


def _op(agg, name):
    return next(o for o in agg.operators if o["name"] == name)


def test_summary_figures_by_hand(histories):
    agg = aggregate(histories[0])
    s = agg.summary
    assert s["duration_s"] == pytest.approx(10.0)
    assert s["rows"] == 1000
    assert s["active_s"] == pytest.approx(10.0)
    assert s["rows_per_s"] == pytest.approx(100.0)
    # RUNNING samples only: i = 0..9 alternate 20 and 40; the FINISHED i = 10 is left out
    assert s["gpu_util_mean"] == pytest.approx((5 * 20 + 5 * 40) / 10)
    assert s["gpu_util_max"] == 40.0
    assert s["spilled_bytes_max"] == 512 * MiB
    assert s["gpus"] == 1 and s["nodes"] == 1 and s["cpus"] == 8.0
    assert s["dataset_states"] == {"FINISHED": 1}
    assert s["node_mem_max_percent"] == pytest.approx(25.0)


def test_operator_aggregates_by_hand(histories):
    agg = aggregate(histories[0])
    pre, model = _op(agg, "ReadRange->MapBatches(pre)"), _op(agg, "MapBatches(Model)")
    assert pre["rows_per_s"] == pytest.approx(200.0)  # 1000 rows first reached at t=1005
    assert model["rows_per_s"] == pytest.approx(100.0)
    # flagged at t=1000..1003: the intervals starting at those samples, 4 x 1 s
    assert pre["backpressure_s"] == {"tasks:ResourceBudget": pytest.approx(4.0)}
    assert model["backpressure_s"] == {}
    assert model["actors_running_max"] == 1 and model["input_queue_blocks_max"] == 3
    assert pre["heap_bytes_max"] == 512 * MiB
    assert model["heap_bytes_max"] is None  # never read: null, not 0
    after = aggregate(histories[1])
    assert _op(after, "ReadRange->MapBatches(pre)")["rows_per_s"] == pytest.approx(1000 / 3)


def test_unknown_stays_none(make_snapshot):
    snaps = [make_snapshot(10.0 + i, pre_rows=None, model_rows=None, util=None, spilled=None)
             for i in range(3)]
    snaps = [dataclasses.replace(s, nodes=(dataclasses.replace(s.nodes[0], gpus=()),)) for s in snaps]
    s = aggregate(History(tuple(snaps))).summary
    assert s["rows"] is None and s["rows_per_s"] is None
    assert s["gpu_util_mean"] is None and s["gpus"] == 0
    assert s["spilled_bytes_max"] is None


def test_source_problems_are_reported(histories, make_snapshot):
    snap = make_snapshot(1011.0, pre_rows=1000, model_rows=1000, util=10.0, spilled=0)
    snap = dataclasses.replace(snap, sources={"gpu": "absent: no NVIDIA driver", "probe": "ok"})
    s = aggregate(History(histories[0].snapshots + (snap,))).summary
    assert s["sources_unavailable"] == {"gpu": {"status": "absent: no NVIDIA driver", "snapshots": 1}}


def test_minmax_downsample_keeps_extremes_and_bounds_points():
    t = np.arange(3600, dtype=float)
    y = np.sin(t / 40.0)
    y[1234] = 50.0  # a one-sample spike
    y[2000] = -50.0
    y[100:110] = np.nan
    ts, ys = minmax_downsample(t, y, 600)
    assert len(ts) <= 600
    assert np.nanmax(ys) == 50.0 and np.nanmin(ys) == -50.0
    assert np.all(np.diff(ts) > 0)


def test_charts_cover_every_timeline(histories):
    charts = {c.key: c for c in build_charts(histories[0])}
    assert set(charts) == {"gpu_util", "gpu_mem", "object_store", "heap", "throughput", "queues",
                           "backpressure"}
    assert not charts["gpu_util"].empty
    spans = dict(charts["backpressure"].spans.rows)
    assert spans["ReadRange->MapBatches(pre)"]["tasks:ResourceBudget"] == [(0.0, 4.0)]
    thr = {s.label: s for s in charts["throughput"].series}
    # 5 s trailing average of a steady 100 rows/s
    assert np.nanmax(thr["MapBatches(Model)"].y) == pytest.approx(100.0)


def test_throughput_gap_is_nan_not_zero(make_snapshot):
    snaps = [make_snapshot(float(i), pre_rows=100 * i, model_rows=100 * i, util=1.0, spilled=0)
             for i in range(6)]
    ds = snaps[3].datasets[0]
    ops = (dataclasses.replace(ds.operators[0], rows_out=None),) + ds.operators[1:]
    snaps[3] = dataclasses.replace(snaps[3], datasets=(dataclasses.replace(ds, operators=ops),))
    thr = {s.label: s for s in next(c for c in build_charts(History(tuple(snaps)))
                                     if c.key == "throughput").series}
    assert np.isnan(thr["ReadRange->MapBatches(pre)"].y[3])
    assert thr["ReadRange->MapBatches(pre)"].y[4] == pytest.approx(100.0)


def test_provisional_local_node_is_not_counted_twice():
    """Before the cluster source answers, a node's local readings arrive under a provisional
    id ("local:<ip>"); once the real node with that IP is known, it is the same machine. Nodes
    that merely share an IP (several raylets on one host) still count separately."""
    from raytop.model import GpuStats, NodeStats, Snapshot
    from raytop.report.history import History

    gpu = GpuStats(index=0, util_percent=50.0)
    snaps = (
        Snapshot(t=1.0, nodes=(NodeStats("local:10.0.0.1", ip="10.0.0.1", gpus=(gpu,)),)),
        Snapshot(t=2.0, nodes=(NodeStats("n1", ip="10.0.0.1", gpus=(gpu,)),
                               NodeStats("n2", ip="10.0.0.1"), NodeStats("n3", ip="10.0.0.1"))),
    )
    s = aggregate(History(snapshots=snaps, events=(), meta={}, name="x.raytop")).summary
    assert s["nodes"] == 3
    assert s["gpus"] == 1
