"""A failed dataset leads the advice: its error read for CUDA OOM, Ray's OOM killer, a full
object store or spill disk, a dead actor; anything else as it is."""

import pytest

from raytop.analysis.advisor import Advisor, advise
from raytop.analysis.rules.cuda_oom import fitting_batch, parse_cuda_oom
from raytop.analysis.rules.failures import failure_kind

from . import scenarios as sc

GIB = 1024 ** 3


def _top(history):
    sugs = advise(history)
    assert sugs, "nothing raised"
    return sugs[0]


@pytest.mark.parametrize("error,kind", [
    (sc.CUDA_OOM, "cuda-oom"), (sc.CUDA_OOM_OLD, "cuda-oom"), (sc.RAY_OOM, "ray-oom"),
    (sc.STORE_FULL, "store-full"), (sc.DISK_FULL, "disk-full"), (sc.ACTOR_DIED, "actor-died"),
    (sc.USER_ERROR, "other"), ("", "other")])
def test_failure_kind_from_real_error_texts(error, kind):
    assert failure_kind(error) == kind


def test_cuda_oom_figures_and_the_batch_that_fits():
    oom = parse_cuda_oom(sc.CUDA_OOM)
    assert oom.tried_bytes == pytest.approx(54.91 * GIB)
    assert oom.total_bytes == pytest.approx(139.81 * GIB)
    assert oom.in_use_bytes == pytest.approx(98.16 * GIB)
    assert oom.needed_bytes == pytest.approx((98.16 + 54.91) * GIB)
    # 5515 x 0.8 x 139.81 / 153.07 = 4029.9
    assert fitting_batch(5515, oom).batch_size == 4029
    old = parse_cuda_oom(sc.CUDA_OOM_OLD)
    assert old.total_bytes == pytest.approx(15.78 * GIB) and old.in_use_bytes == pytest.approx(13.10 * GIB)
    assert fitting_batch(256, old).batch_size == int(256 * 0.8 * 15.78 / 15.10)  # 214
    assert fitting_batch(64, parse_cuda_oom("CUDA_ERROR_OUT_OF_MEMORY")).batch_size == 32
    assert fitting_batch(None, oom) is None
    assert fitting_batch(1, oom).batch_size == 1


def test_cuda_oom_is_gpu_memory_risk_critical_with_the_batch_that_fits():
    top = _top(sc.failed_with(sc.CUDA_OOM, batch_size=5515))
    assert (top.rule, top.severity, top.operator) == ("gpu-memory-risk", "critical", sc.MODEL)
    assert "ds.map_batches(Model, batch_size=4029, ...)" in top.fix and "now 5515" in top.fix
    assert "CUDA out of memory" in top.evidence and "peaked at 96.9 %" in top.evidence
    assert top.figures["suggested_batch_size"] == 4029 and top.figures["failure"] is True


def test_failure_leads_over_a_dynamic_critical_and_is_raised_from_one_snapshot():
    # the GPU readings alone raise gpu-memory-risk (critical) for the running part; the one
    # FAILED snapshot at the end must still put the failure first
    hist = sc.gpu_memory_risk(20)[:-1] + sc.failed_with(sc.RAY_OOM, n_running=0, n_failed=1)
    hist = [s.__class__(**{**s.__dict__, "t": 1000.0 + i}) for i, s in enumerate(hist)]
    top = _top(hist)
    assert (top.rule, top.severity) == ("heap-pressure", "critical") and top.figures["failure"]
    adv = Advisor()
    for s in hist:
        adv.update(s)
    assert adv.active()[0].rule == "heap-pressure"  # live: leads as soon as it is seen


def test_ray_oom_killer_is_heap_pressure_on_the_operator_with_memory():
    top = _top(sc.failed_with(sc.RAY_OOM, with_gpu=False, heap=3 * GIB))
    assert (top.rule, top.severity, top.operator) == ("heap-pressure", "critical", sc.MODEL)
    # 3 GiB over the pool's 2 actors: 1.5 GiB each, a lower bound (the killed task still grew): x 2
    assert f"ds.map_batches(Model, memory={int(1.5 * GIB * 2)}" in top.fix
    assert "batch_size=32 (now 64)" in top.fix


@pytest.mark.parametrize("error,rule", [(sc.STORE_FULL, "object-store-pressure"),
                                        (sc.DISK_FULL, "spilling"), (sc.ACTOR_DIED, "actor-restarts"),
                                        (sc.USER_ERROR, "dataset-failed")])
def test_other_failures_name_their_rule_critical(error, rule):
    top = _top(sc.failed_with(error, with_gpu=False))
    assert (top.rule, top.severity, top.operator) == (rule, "critical", sc.MODEL)
    assert error.split(":")[0] in top.evidence and top.fix


def test_probe_free_failure_says_the_error_needs_the_probe():
    top = _top(sc.failed_with(sc.USER_ERROR, with_gpu=False, source="stats"))
    assert (top.rule, top.severity) == ("dataset-failed", "critical")
    assert "needs raytop's probe" in top.evidence


def test_a_pool_that_keeps_restarting_is_named_but_one_restart_is_not():
    top = _top(sc.actor_restarts())
    assert (top.rule, top.severity, top.operator) == ("actor-restarts", "warning", sc.MODEL)
    once = sc.actor_restarts(20, at=(5,))
    assert sum(1 for s in once if s.datasets[0].operators[2].actors.restarting) == 1
    assert not [s for s in advise(once) if s.rule == "actor-restarts"]


def test_a_failure_of_long_ago_is_not_news():
    hist = sc.failed_with(sc.USER_ERROR, with_gpu=False, n_running=0, n_failed=5)
    old = [s.__class__(**{**s.__dict__, "datasets": tuple(
        d.__class__(**{**d.__dict__, "end_time": s.t - 3600}) for d in s.datasets)}) for s in hist]
    assert not [s for s in advise(old) if s.rule == "dataset-failed"]
    recent = [s.__class__(**{**s.__dict__, "datasets": tuple(
        d.__class__(**{**d.__dict__, "end_time": s.t - 2}) for d in s.datasets)}) for s in hist]
    assert [s.rule for s in advise(recent)][0] == "dataset-failed"


def test_a_dataset_stopped_by_ctrl_c_did_not_fail():
    """The user's Ctrl-C (or `raytop tune` cutting a trial) ends the dataset FAILED with the root
    cause ``KeyboardInterrupt``: that is no failure to fix."""
    assert failure_kind("KeyboardInterrupt") == "interrupted"
    assert failure_kind("ValueError: KeyboardInterrupt in the data") == "other"
    found = advise(sc.failed_with("KeyboardInterrupt", with_gpu=False))
    assert not [s for s in found if s.figures.get("failure")], [s.rule for s in found]
