import json

from raytop.analysis.plan import analyze_plan, plan_analysis_to_dict
from raytop.model import PhysicalOp, Plan

from .builders import lop, plan_of


def _boundary(pa, up_name, down_name):
    return next(b for b in pa.boundaries if b.upstream_name == up_name and b.downstream_name == down_name)


def num_cpus_plan():
    logical = [lop("0", "ReadRange", is_map=True, can_modify_num_rows=True),
               lop("1", "Map", "a", inputs=["0"]),
               lop("2", "MapBatches", "b", inputs=["1"], ray_remote_args={"num_cpus": 0.5})]
    return plan_of([("ReadRange->Map(a)", "TaskPoolMapOperator", ["0", "1"]),
                    ("MapBatches(b)", "TaskPoolMapOperator", ["2"])], logical)


def test_num_cpus_difference_is_a_fixable_remote_args_break():
    pa = analyze_plan(num_cpus_plan())
    assert pa.reasons_known
    assert [g.names for g in pa.groups] == [("ReadRange", "Map(a)"), ("MapBatches(b)",)]
    assert _boundary(pa, "ReadRange", "Map(a)").fused
    b = _boundary(pa, "Map(a)", "MapBatches(b)")
    assert not b.fused and b.fixable
    assert [(r.code, r.key, r.values) for r in b.reasons] == [("remote-args", "num_cpus", (1, 0.5))]


def test_read_then_map_batches_with_batch_size_is_inherent():
    logical = [lop("0", "ReadParquet", can_modify_num_rows=True),
               lop("1", "MapBatches", "f", inputs=["0"], batch_size=64)]
    pa = analyze_plan(plan_of([("ReadParquet", None, ["0"]), ("MapBatches(f)", None, ["1"])], logical))
    b = _boundary(pa, "ReadParquet", "MapBatches(f)")
    assert not b.fused and not b.fixable
    assert [r.code for r in b.reasons] == ["row-changing-upstream-batch-size"]
    assert b.reasons[0].values == (64,)


def test_batch_size_only_difference_is_fused():
    logical = [lop("0", "ReadRange", can_modify_num_rows=True),
               lop("1", "MapBatches", "a", inputs=["0"]),
               lop("2", "MapBatches", "b", inputs=["1"], batch_size=64),
               lop("3", "MapBatches", "c", inputs=["2"], batch_size=16)]
    pa = analyze_plan(plan_of([("ReadRange", None, ["0"]),
                               ("MapBatches(a)->MapBatches(b)->MapBatches(c)", None, ["1", "2", "3"])],
                              logical))
    assert _boundary(pa, "MapBatches(b)", "MapBatches(c)").fused
    assert _boundary(pa, "MapBatches(a)", "MapBatches(b)").fused
    # the read is still kept apart: the fused group asks for batch_size 64 (the largest)
    b = _boundary(pa, "ReadRange", "MapBatches(a)")
    assert b.reasons[0].code == "row-changing-upstream-batch-size" and b.reasons[0].values == (64,)


def test_cpu_map_to_gpu_actor_is_a_hardware_requirement_not_fixable():
    logical = [lop("0", "ReadRange", can_modify_num_rows=True),
               lop("1", "MapBatches", "pre", inputs=["0"]),
               lop("2", "MapBatches", "Model", inputs=["1"], compute="actor", min_size=1, max_size=1,
                   ray_remote_args={"num_gpus": 1})]
    pa = analyze_plan(plan_of([("ReadRange->MapBatches(pre)", "TaskPoolMapOperator", ["0", "1"]),
                               ("MapBatches(Model)", "ActorPoolMapOperator", ["2"])], logical))
    b = _boundary(pa, "MapBatches(pre)", "MapBatches(Model)")
    assert not b.fused and not b.fixable
    (r,) = b.reasons
    assert (r.code, r.key, r.values, r.fixable) == ("remote-args", "num_gpus", (0, 1), False)
    assert "not worth it" in r.text


def test_task_into_actor_fuses():
    logical = [lop("0", "ReadRange", can_modify_num_rows=True),
               lop("1", "MapBatches", "Model", inputs=["0"], compute="actor", min_size=1, max_size=2)]
    pa = analyze_plan(plan_of([("ReadRange->MapBatches(Model)", "ActorPoolMapOperator", ["0", "1"])],
                              logical))
    assert pa.groups[0].physical_class == "ActorPoolMapOperator"
    assert _boundary(pa, "ReadRange", "MapBatches(Model)").fused


def test_compute_sizes_and_actor_upstream_and_non_map():
    logical = [lop("0", "ReadRange", can_modify_num_rows=True, min_size=2, max_size=2),
               lop("1", "Map", "a", inputs=["0"]),
               lop("2", "MapBatches", "M", inputs=["1"], compute="actor", min_size=1, max_size=3),
               lop("3", "Map", "post", inputs=["2"]),
               lop("4", "Aggregate", inputs=["3"], is_map=False)]
    pa = analyze_plan(plan_of([("ReadRange", None, ["0"]), ("Map(a)->MapBatches(M)", None, ["1", "2"]),
                               ("Map(post)", None, ["3"]), ("Aggregate", None, ["4"])], logical))
    b = _boundary(pa, "ReadRange", "Map(a)")
    # the downstream group ends in the actor pool: the read's size 2 != max_size 3
    assert [(r.code, r.values, r.fixable) for r in b.reasons] == [("compute-size", (2, 3), True)]
    assert [r.code for r in _boundary(pa, "MapBatches(M)", "Map(post)").reasons] == ["actor-upstream"]
    assert [r.code for r in _boundary(pa, "Map(post)", "Aggregate").reasons] == ["non-map"]


def test_remote_args_fn_and_target_block_size():
    logical = [lop("0", "Map", "a", target_max_block_size=8),
               lop("1", "Map", "b", inputs=["0"], target_max_block_size=16),
               lop("2", "Map", "c", inputs=["1"], has_remote_args_fn=True)]
    pa = analyze_plan(plan_of([("Map(a)", None, ["0"]), ("Map(b)", None, ["1"]), ("Map(c)", None, ["2"])],
                              logical))
    b1 = _boundary(pa, "Map(a)", "Map(b)")
    assert [(r.code, r.values) for r in b1.reasons] == [("target-max-block-size", (8, 16))] and b1.fixable
    b2 = _boundary(pa, "Map(b)", "Map(c)")
    assert [r.code for r in b2.reasons] == ["remote-args-fn"] and not b2.fixable


def test_scheduling_strategy_is_inherited_and_zero_resources_ignored():
    logical = [lop("0", "ReadRange", ray_remote_args={"scheduling_strategy": "SPREAD"}),
               lop("1", "Map", "a", inputs=["0"], ray_remote_args={"resources": {"x": 0}, "num_cpus": 1})]
    pa = analyze_plan(plan_of([("ReadRange", None, ["0"]), ("Map(a)", None, ["1"])], logical))
    assert [r.code for r in pa.boundaries[0].reasons] == ["unknown"]


def test_names_only_plan_has_unknown_reasons():
    plan = Plan(physical=(PhysicalOp("Input", "InputDataBuffer"),
                          PhysicalOp("ReadRange->Map(a)", "TaskPoolMapOperator"),
                          PhysicalOp("MapBatches(M)", "ActorPoolMapOperator"),
                          PhysicalOp("Map(post)", "TaskPoolMapOperator")), source="names")
    pa = analyze_plan(plan)
    assert not pa.reasons_known
    assert [g.names for g in pa.groups] == [("ReadRange", "Map(a)"), ("MapBatches(M)",), ("Map(post)",)]
    codes = {(b.upstream_name, b.downstream_name): (b.fused, [r.code for r in b.reasons])
             for b in pa.boundaries}
    assert codes[("ReadRange", "Map(a)")] == (True, [])
    assert codes[("Map(a)", "MapBatches(M)")] == (False, ["unknown"])
    assert codes[("MapBatches(M)", "Map(post)")] == (False, ["actor-upstream"])


def test_plan_analysis_dict_is_json():
    d = plan_analysis_to_dict(analyze_plan(num_cpus_plan()))
    text = json.dumps(d)
    assert '"num_cpus"' in text
    b = [x for x in d["boundaries"] if not x["fused"]][0]
    assert b["fixable"] is True and b["reasons"][0]["values"] == [1, 0.5]


def test_task_to_actor_fusion_break_is_only_info():
    """A CPU map kept off the model's actor pool by a differing setting is a common deliberate
    split: the advisor mentions it (info), it does not warn."""
    from raytop.analysis.advisor import advise
    from raytop.model import DatasetStats, LogicalOp, OperatorStats, PhysicalOp, Plan, Snapshot

    plan = Plan(
        logical=(
            LogicalOp("0:ReadRange", "ReadRange", "Read", is_map=False,
                      physical="ReadRange->MapBatches(pre)"),
            LogicalOp("1:MapBatches(pre)", "MapBatches(pre)", "MapBatches", inputs=("0:ReadRange",),
                      compute="task", is_map=True, can_modify_num_rows=False,
                      physical="ReadRange->MapBatches(pre)"),
            LogicalOp("2:MapBatches(Model)", "MapBatches(Model)", "MapBatches",
                      inputs=("1:MapBatches(pre)",), compute="actor", min_size=1, max_size=1,
                      ray_remote_args={"num_cpus": 1, "memory": 512 * 1024 ** 2}, is_map=True,
                      can_modify_num_rows=False, physical="MapBatches(Model)"),
        ),
        physical=(PhysicalOp("ReadRange->MapBatches(pre)", "TaskPoolMapOperator",
                             ("0:ReadRange", "1:MapBatches(pre)")),
                  PhysicalOp("MapBatches(Model)", "ActorPoolMapOperator", ("2:MapBatches(Model)",),
                             ("ReadRange->MapBatches(pre)",))),
    )
    ops = (OperatorStats("ReadRange->MapBatches(pre)", compute="task"),
           OperatorStats("MapBatches(Model)", compute="actor"))
    snaps = [Snapshot(t=100.0 + i, datasets=(DatasetStats("d", state="RUNNING", start_time=90.0,
                                                         operators=ops, plan=plan, source="probe"),))
             for i in range(10)]
    fb = [s for s in advise(snaps) if s.rule == "fusion-break"]
    assert fb and all(s.severity == "info" for s in fb)
    assert "memory" in fb[0].evidence
