import pytest

from raytop.analysis.advisor import Advisor, advise
from raytop.analysis.bottleneck import find_bottleneck
from raytop.analysis.rules import RULE_IDS

from . import scenarios as sc
from .builders import op as op_


def _warn(sugs):
    return [s for s in sugs if s.severity in ("warning", "critical")]


def _run(history):
    adv = Advisor()
    for s in history:
        adv.update(s)
    assert adv.errors == {}
    return advise(history)


CASES = [
    ("spilling", sc.spilling, "object_store_memory"),
    ("object-store-pressure", sc.store_full, "object_store_memory"),
    ("small-blocks", sc.small_blocks, "ray.data.range(..., override_num_blocks="),
    ("large-blocks", sc.large_blocks, "override_num_blocks="),
    ("input-starved", sc.input_starved, "ds.map_batches(pre, compute=TaskPoolStrategy(size=2), ...)"),
    ("actor-pool-undersized", sc.pool_undersized,
     "ds.map_batches(Model, compute=ActorPoolStrategy(min_size=1, max_size=4), ...)"),
    ("gpu-oversubscribed", sc.gpu_oversubscribed, "ActorPoolStrategy(min_size=1, max_size=1)"),
    ("stateless-model", sc.stateless_model, "callable class"),
    ("fusion-break", sc.fusion_break, "num_cpus=1"),
    ("heap-pressure", sc.heap_pressure, "ds.map_batches(Model, memory="),
    ("gpu-underutilized", sc.gpu_underutilized, "batch_size=128"),
    ("gpu-memory-risk", sc.gpu_memory_risk, "batch_size=32"),
    ("actor-restarts", sc.actor_restarts, "worker logs"),
    ("dataset-failed", lambda: sc.failed_with(sc.USER_ERROR, with_gpu=False),
     "fix the error in that operator's code"),
    ("consumer-bound", sc.consumer_bound, "ds = ds.map_batches(<that work>"),
    ("stalled", sc.stalled, "ds.map_batches(Model, num_gpus=0, ...)"),
    ("stragglers", sc.stragglers, "ds = ds.repartition(6)"),
]


def test_every_rule_id_is_covered():
    assert sorted(r for r, _, _ in CASES) == sorted(RULE_IDS)
    assert len(RULE_IDS) == 17


def test_report_schema_knows_every_rule():
    from raytop.report.json_report import load_schema

    assert sorted(load_schema()["$defs"]["suggestion"]["properties"]["rule"]["enum"]) == sorted(RULE_IDS)


@pytest.mark.parametrize("rule,make,fix", CASES, ids=[c[0] for c in CASES])
def test_rule_fires_ranked_first_with_fix(rule, make, fix):
    sugs = _warn(_run(make()))
    assert sugs, f"{rule} raised nothing"
    top = sugs[0]
    assert top.rule == rule, [s.rule for s in sugs]
    assert fix in top.fix, top.fix
    assert top.evidence and top.title and top.window is not None
    assert top.dataset_id == "ds_1"


def test_healthy_raises_nothing_at_warning():
    for hist in (sc.healthy(), sc.healthy(with_gpu=True)):
        assert _warn(_run(hist)) == []


def test_fusion_break_names_key_and_both_values():
    (s,) = [x for x in _run(sc.fusion_break()) if x.rule == "fusion-break"]
    assert "num_cpus" in s.evidence and "1" in s.evidence and "0.5" in s.evidence
    assert s.figures["key"] == "num_cpus" and s.figures["values"] == [1, 0.5]
    assert s.operator == "MapBatches(b)"


def test_gpu_rules_silent_without_gpu_readings():
    rules = {s.rule for s in _run(sc.gpu_underutilized(readings=False))}
    assert "gpu-underutilized" not in rules and "gpu-memory-risk" not in rules


def test_worker_memory_request_path_of_heap_pressure():
    sugs = _warn(_run(sc.worker_memory_limit()))
    assert sugs[0].rule == "heap-pressure" and "memory=" in sugs[0].fix


def test_gpu_oversubscribed_is_critical_when_nothing_runs():
    from .builders import history, node, snap
    hist = history(lambda i: snap(i, [sc._pre(), sc._model(q=6, actors=(0, 2, 0, 0))],
                                  nodes=[node(cpus=3, gpus=1)], plan=sc.model_plan(2, 2, num_gpus=1)))
    top = _warn(_run(hist))[0]
    assert (top.rule, top.severity) == ("gpu-oversubscribed", "critical")


def test_bottleneck():
    assert find_bottleneck(sc.pool_undersized(), "ds_1") == sc.MODEL
    assert find_bottleneck(sc.input_starved(), "ds_1") is None or \
        find_bottleneck(sc.input_starved(), "ds_1") == sc.PRE
    assert find_bottleneck([], "ds_1") is None
    assert find_bottleneck(sc.pool_undersized(), "other") is None


def test_finished_dataset_is_not_judged_on_dynamics():
    from dataclasses import replace
    hist = [replace(s, datasets=tuple(replace(d, state="FINISHED") for d in s.datasets))
            for s in sc.pool_undersized()]
    assert not [s for s in _run(hist) if s.rule == "actor-pool-undersized"]


def test_store_busy_with_budget_backpressure_is_pressure_but_busy_alone_is_not():
    from .builders import history, node, snap

    def make(bp):
        return history(lambda i: snap(i, [sc._pre(bp=bp, budget_store=4 * sc.MIB), sc._model()],
                                      nodes=[node(cpus=3, store_used=860 * sc.MIB)],
                                      plan=sc.model_plan()))

    fired = [s for s in _warn(_run(make(("tasks:ResourceBudget",)))) if s.rule == "object-store-pressure"]
    assert fired and "86 %" in fired[0].evidence
    assert not [s for s in _run(make(())) if s.rule == "object-store-pressure"]


def test_fixed_pool_before_count_is_undersized_though_the_read_holds_the_other_cpu():
    hist = sc.pool_before_count()
    assert find_bottleneck(hist, "ds_1") == sc.MODEL  # not count()'s Project, with more queued
    top = _warn(_run(hist))[0]
    assert top.rule == "actor-pool-undersized"
    assert "ActorPoolStrategy(min_size=1, max_size=2)" in top.fix and "now" in top.fix


def test_a_sink_is_the_bottleneck_once_nothing_upstream_works():
    from .builders import history, node, snap
    hist = history(lambda i: snap(i, [op_("ReadRange", running=0, state="FINISHED"),
                                      sc._model(q=0, actors=(1, 0, 1, 0), running=0),
                                      op_("Project", q=10, running=1, cpu=1.0),
                                      op_("AggregateNumRows", running=0, cls="AllToAllOperator")],
                                  nodes=[node(cpus=2)], plan=sc.count_plan()))
    assert find_bottleneck(hist, "ds_1") == "Project"


def test_gpu_pool_beyond_the_cluster_is_oversubscribed_with_nothing_pending():
    sugs = _warn(_run(sc.gpu_pool_beyond_cluster()))
    (s,) = [x for x in sugs if x.rule == "gpu-oversubscribed"]
    assert s.severity == "warning" and s.figures["actors_wanted"] == 4
    assert "max_size=1" in s.fix and "max_size=4" in s.evidence
    assert sugs[0].rule == "gpu-oversubscribed"


def test_a_cpu_held_by_count_projection_is_room_for_one_more_actor():
    top = _warn(_run(sc.pool_first_before_count()))[0]
    assert top.rule == "actor-pool-undersized" and "max_size=2" in top.fix
    assert "trivial ones" in top.evidence
