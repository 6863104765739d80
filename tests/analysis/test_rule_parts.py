"""The small functions rules and the fusion analysis are built from, one by one."""

from raytop.analysis import plan as plan_mod
from raytop.analysis.window import Window, held_share

from . import scenarios as sc
from .builders import lop


def test_held_share_needs_enough_samples_and_the_hold_fraction():
    assert held_share([True, True]) is None  # fewer than MIN_SAMPLES
    assert held_share([True, True, False, False, False]) is None  # 40 % < 60 %
    assert held_share([True, True, True, False, False]) == 0.6
    assert held_share([]) is None


def test_judged_keeps_only_datasets_with_enough_running_samples():
    win = Window(tuple(sc.pool_undersized(10)), {})
    (ds_id, samples), = win.judged()
    assert ds_id == "ds_1" and len(samples) == 10
    assert Window(tuple(sc.pool_undersized(2)), {}).judged() == []


def test_actor_ops_and_branch_follow_the_plan():
    win = Window(tuple(sc.pool_undersized(5)), {"ds_1": sc.model_plan(max_size=1)})
    assert win.actor_ops("ds_1") == [sc.MODEL]
    assert win.branch("ds_1", sc.MODEL) == [sc.MODEL, sc.PRE]


def test_structural_reason_non_map_and_streaming_repartition():
    up, agg = lop("0", "MapBatches", "f"), lop("1", "Aggregate", is_map=False)
    assert plan_mod._structural_reason(up, agg, False).code == "non-map"
    assert plan_mod._structural_reason(up, lop("1", "MapBatches", "g"), True).code == "non-map"
    rep = lop("1", "StreamingRepartition")
    assert plan_mod._structural_reason(up, rep, False).code == "streaming-repartition"
    assert plan_mod._structural_reason(up, lop("1", "MapBatches", "g"), False) is None


def test_compute_reasons():
    actor = lop("0", "MapBatches", "M", compute="actor", min_size=1, max_size=2)
    assert [r.code for r in plan_mod._compute_reasons(actor, lop("1", "Map", "g"))] == ["actor-upstream"]
    a, b = lop("0", "Map", "f", min_size=2, max_size=2), lop("1", "Map", "g", min_size=4, max_size=4)
    (r,) = plan_mod._compute_reasons(a, b)
    assert (r.code, r.values, r.fixable) == ("compute-size", (2, 4), True)
    assert plan_mod._compute_reasons(a, lop("1", "Map", "g", min_size=2, max_size=2)) == []
    assert plan_mod._compute_reasons(a, actor) == []  # size 2 == the pool's max_size 2
    (r,) = plan_mod._compute_reasons(lop("0", "Map", "f", min_size=3, max_size=3), actor)
    assert (r.code, r.values) == ("compute-size", (3, 2))
    assert plan_mod._compute_reasons(lop("0", "Map", "f"), actor) == []  # unsized tasks fuse into it


def test_remote_arg_reasons_hardware_is_not_fixable():
    up = lop("0", "Map", "f")
    down = lop("1", "MapBatches", "M", ray_remote_args={"num_gpus": 1, "num_cpus": 2})
    by_key = {r.key: r for r in plan_mod._remote_arg_reasons(up, down)}
    assert set(by_key) == {"num_cpus", "num_gpus"}
    assert by_key["num_cpus"].fixable and by_key["num_cpus"].values == (1, 2)
    assert not by_key["num_gpus"].fixable


def test_batch_size_block_size_and_remote_args_fn_reasons():
    read = lop("0", "ReadParquet", can_modify_num_rows=True)
    down = lop("1", "MapBatches", "f", batch_size=32, target_max_block_size=64)
    (r,) = plan_mod._batch_size_reasons(read, down, [down])
    assert r.code == "row-changing-upstream-batch-size" and r.values == (32,)
    assert plan_mod._batch_size_reasons(lop("0", "MapBatches", "g"), down, [down]) == []
    up = lop("0", "Map", "g", target_max_block_size=128, has_remote_args_fn=True)
    assert [r.values for r in plan_mod._block_size_reasons(up, down, [down])] == [(128, 64)]
    assert [r.code for r in plan_mod._remote_args_fn_reasons(up, [down])] == ["remote-args-fn"]
