"""`stalled`: a RUNNING dataset with no progress for STALL_S, on hand-built snapshots."""

from __future__ import annotations

from dataclasses import replace

import pytest

from raytop.analysis import progress, report_data
from raytop.analysis import thresholds as th
from raytop.analysis.advisor import Advisor, advise
from raytop.model import ConsumerStats, DriverInfo, Resources

from .builders import T0, node, op, snap
from .scenarios import MODEL, count_plan

DT = 5.0  # seconds between samples: a minute is 12 of them


def _ops(i, *, rows=1000, moving_until=-1, pending=1, running_actors=0, tasks=0, bp=(),
         state="FINISHED"):
    """range -> map_batches(Model, num_gpus=1, a pool of 1) -> count(): the read is done (or
    moving until sample ``moving_until``), the model's actor cannot start."""
    grow = min(i, moving_until) + 1 if moving_until >= 0 else 0
    return [op("ReadRange", running=0, state=state, rows_out=rows + 100 * grow,
               tasks_finished=4 + grow if rows or grow else 0, q=0),
            op(MODEL, compute="actor", q=4, running=tasks, actors=(running_actors, pending, 0, 0),
               rows_out=0, tasks_finished=0, bp=bp, state="RUNNING"),
            op("Project", running=0, q=0, rows_out=0, tasks_finished=0, state="RUNNING", bp=bp),
            op("AggregateNumRows", running=0, cls="AllToAllOperator", rows_out=0, tasks_finished=0,
               state="RUNNING", bp=bp)]


def _gpu_stall(n=20, gpus=0, plan=True, **kw):
    return [snap(i, _ops(i, **kw), nodes=[node(cpus=2, gpus=gpus)],
                 plan=count_plan(1, num_gpus=1) if plan else None, dt=DT) for i in range(n)]


def _stalled(sugs):
    return [s for s in sugs if s.rule == "stalled"]


def _first_raised(history, adv=None):
    """The index of the first snapshot at which `stalled` is active, None if never."""
    adv = adv or Advisor()
    for i, s in enumerate(history):
        if _stalled(adv.update(s)):
            assert adv.errors == {}
            return i
    assert adv.errors == {}
    return None


def test_fires_after_stall_s_and_not_before():
    # first seen with rows already out: the minute counts from the first sample
    hist = _gpu_stall()
    assert th.STALL_S == 60.0
    assert _first_raised(hist) == int(th.STALL_S / DT)  # t = T0 + 60 s, not T0 + 55 s


def test_counts_from_the_last_change():
    hist = _gpu_stall(moving_until=5)  # the read moves until sample 5, then nothing does
    assert _first_raised(hist) == 5 + int(th.STALL_S / DT)


def test_before_the_first_row_it_counts_from_the_start():
    """Nothing out at all: the time counts from the dataset's start (T0 - 10), so start-up is
    not a stall until it has lasted STALL_S."""
    hist = _gpu_stall(rows=0, state="RUNNING")
    start = hist[0].datasets[0].start_time
    assert start == T0 - 10
    i = _first_raised(hist)
    assert hist[i].t - start >= th.STALL_S > hist[i - 1].t - start


def test_silent_while_rows_move():
    hist = _gpu_stall(n=40, moving_until=40)
    assert _first_raised(hist) is None
    assert _stalled(advise(hist)) == []


def test_silent_on_finished_dataset_stale_source_and_gone_driver():
    finished = [replace(s, datasets=(replace(s.datasets[0], state="FINISHED"),)) for s in _gpu_stall()]
    assert _first_raised(finished) is None
    stale = [replace(s, datasets=(replace(s.datasets[0], source="probe"),),
                     sources={"probe": "stale: no datagram"}) for s in _gpu_stall()]
    assert _first_raised(stale) is None
    gone = [replace(s, datasets=(replace(s.datasets[0], job_id="02000000"),),
                    sources={"drivers": "ok"},
                    drivers=(DriverInfo(pid=7, job_id="01000000"),)) for s in _gpu_stall()]
    assert _first_raised(gone) is None
    alive = [replace(s, drivers=(DriverInfo(pid=7, job_id="02000000"),)) for s in gone]
    assert _first_raised(alive) is not None


def test_pending_gpu_actors_evidence_and_fix():
    [s] = _stalled(advise(_gpu_stall()))
    assert (s.severity, s.operator, s.op_id, s.dataset_id) == ("critical", MODEL, MODEL, "ds_1")
    assert "1 actor pending and none running" in s.evidence
    assert "num_gpus=1" in s.evidence and "no node has 1 GPU(s)" in s.evidence
    assert "finished: ReadRange" in s.evidence
    assert "add GPU nodes" in s.fix and "ds.map_batches(Model, num_gpus=0, ...)" in s.fix
    f = s.figures
    assert f["waiting_on"] == "actors-pending" and f["actors_pending"] == 1
    assert (f["gpus_asked"], f["cpus_asked"], f["cluster_gpus"], f["cluster_cpus"]) == (1.0, 1.0, 0.0, 2.0)
    assert f["stalled_s"] >= th.STALL_S and f["stall_after_s"] == th.STALL_S
    assert f["rows_out"] is None  # the builders give the dataset no rows_out: unknown, not 0


def test_leads_the_gpu_finding_it_explains():
    sugs = advise(_gpu_stall())
    assert [s.rule for s in sugs[:2]] == ["stalled", "gpu-oversubscribed"]


def test_figures_unknown_without_plan_or_nodes():
    hist = [replace(s, nodes=()) for s in _gpu_stall(plan=False)]
    [s] = _stalled(advise(hist))
    f = s.figures
    assert f["gpus_asked"] is None and f["cpus_asked"] is None
    assert f["cluster_gpus"] is None and f["cluster_cpus"] is None
    assert "need raytop's probe" in s.evidence and "ray status" in s.fix


def test_fewer_gpus_per_node_than_asked():
    hist = _gpu_stall(gpus=1)
    hist = [replace(s, datasets=(replace(s.datasets[0], plan=count_plan(1, num_gpus=2)),)) for s in hist]
    [s] = _stalled(advise(hist))
    assert "num_gpus=1" in s.fix and "now 2" in s.fix


def test_tasks_that_ask_for_a_gpu_no_node_has():
    """A function UDF with num_gpus=1 on a cluster with none: Ray Data counts the one task it
    submitted as running (it is pending placement), blocks queue behind it."""
    from .builders import lop, plan_of

    logical = [lop("0", "ReadRange", can_modify_num_rows=True),
               lop("1", "MapBatches", "f", inputs=["0"], ray_remote_args={"num_gpus": 1}, batch_size=100)]
    plan = plan_of([("ReadRange", "TaskPoolMapOperator", ["0"]),
                    ("MapBatches(f)", "TaskPoolMapOperator", ["1"])], logical)
    hist = [snap(i, [op("ReadRange", running=0, state="FINISHED", rows_out=1000, tasks_finished=4),
                     op("MapBatches(f)", q=3, running=1, rows_out=0, tasks_finished=0, state="RUNNING",
                        bp=("tasks:ResourceBudget",))],
                 nodes=[node(cpus=2, gpus=0)], plan=plan, dt=DT) for i in range(20)]
    [s] = _stalled(advise(hist))
    assert s.figures["waiting_on"] == "resources-missing" and s.op_id == "MapBatches(f)"
    assert "no task of it can be placed" in s.evidence and "no node has 1 GPU(s)" in s.evidence
    assert "ds.map_batches(f, num_gpus=0, ...)" in s.fix


def test_tasks_that_do_not_finish():
    hist = _gpu_stall(pending=0, running_actors=1, tasks=2)
    [s] = _stalled(advise(hist))
    assert s.figures["waiting_on"] == "tasks-running" and s.figures["stuck_tasks"] == 2
    assert "2 tasks running and none finished for" in s.evidence
    assert f"raytop stacks --operator '{MODEL}'" in s.fix
    assert "ds.map_batches(Model, batch_size=<smaller>, ...)  # now 100" in s.fix


def test_everything_held_back_on_the_object_store():
    hist = _gpu_stall(pending=0, running_actors=1, bp=("tasks:ResourceBudget",))
    hist = [replace(s, datasets=(replace(s.datasets[0], operators=tuple(
        replace(o, budget=Resources(cpu=1.0, object_store_bytes=0)) for o in s.datasets[0].operators)),))
        for s in hist]
    [s] = _stalled(advise(hist))
    assert s.figures["waiting_on"] == "backpressure-store"
    assert "target_max_block_size" in s.fix and "ResourceBudget" in s.evidence


def test_nothing_scheduled():
    [s] = _stalled(advise(_gpu_stall(pending=0, running_actors=1)))
    assert s.figures["waiting_on"] == "nothing-scheduled" and s.op_id is None
    assert "py-spy dump" in s.fix


def _consumer_paused(n=20):
    """The driver's loop took 4 batches and stopped asking: blocks wait at the output, the one
    operator's tasks stay 'running' (Ray pauses a task whose output nobody takes)."""
    c = ConsumerStats(blocked_s=0.2, user_s=0.0, first_batch_s=0.2, total_s=0.0, batches=4, rows=400)
    pre = "ReadRange->MapBatches(<lambda>)"
    out = []
    for i in range(n):
        s = snap(i, [op(pre, q=11, running=2, rows_out=148_000, tasks_finished=37, state="RUNNING",
                        bp=("tasks:ResourceBudget",), output_queue_blocks=35)],
                 nodes=[node(cpus=2)], dt=DT)
        out.append(replace(s, datasets=(replace(s.datasets[0], consumer=c, driver_pid=4242),)))
    return out


def test_a_paused_consumer_is_not_a_pipeline_stall():
    sugs = advise(_consumer_paused())
    assert [s for s in sugs if s.severity in ("warning", "critical")] == []
    [s] = _stalled(sugs)
    assert s.severity == "info" and s.figures["waiting_on"] == "consumer"
    assert "the consumer stopped pulling" in s.evidence and "py-spy dump --pid 4242" in s.fix


def test_stall_threshold_is_configurable():
    hist = _gpu_stall()
    assert _first_raised(hist, Advisor(stall_s=10)) == 2
    assert _stalled(advise(hist[:4], stall_s=10)) and not _stalled(advise(hist[:4]))
    assert report_data(hist[:4], stall_s=10)["suggestions"][0]["rule"] == "stalled"
    try:
        progress.set_default_stall_s(10)
        assert Advisor().stall_s == 10 and _first_raised(hist) == 2
    finally:
        progress.set_default_stall_s(None)
    assert Advisor().stall_s == th.STALL_S


@pytest.mark.parametrize("value,want", [(5, 5.0), (2.5, 2.5), (0, None), (-1, None), (True, None),
                                        ("5", None), (float("nan"), None), (float("inf"), None)])
def test_stall_threshold_from_a_recording_is_checked(value, want):
    assert progress.stall_s_of({"stall_after": value}) == want
    assert progress.stall_s_of({}) is None


def test_cleared_once_rows_move_again():
    hist = _gpu_stall(n=16)
    last = hist[-1]
    inp, read, *rest = last.datasets[0].operators
    moving = [replace(last, t=last.t + DT * (k + 1), datasets=(replace(last.datasets[0], operators=(
        inp, replace(read, rows_out=2000 + k), *rest)),)) for k in range(th.CLEAR_AFTER + 1)]
    adv = Advisor()
    for s in hist:
        adv.update(s)
    assert _stalled(adv.active())
    for s in moving:
        active = adv.update(s)
    assert not _stalled(active)
