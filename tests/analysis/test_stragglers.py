"""The stragglers rule on hand-built windows: it names the slow task and its node, and stays
silent where a slow task is not a straggler."""

from __future__ import annotations

from dataclasses import replace

from raytop.analysis.advisor import Advisor, advise

from . import scenarios as sc
from .builders import history, node, snap


def _stragglers(hist):
    adv = Advisor()
    for s in hist:
        adv.update(s)
    assert adv.errors == {}
    return [s for s in advise(hist) if s.rule == "stragglers"]


def test_a_task_far_slower_than_the_rest_is_named_with_its_node():
    (s,) = _stragglers(sc.stragglers())
    assert (s.severity, s.operator, s.op_id) == ("warning", sc.PRE, sc.PRE)
    assert "task 7 running" in s.evidence and "node 10.0.0.1, pid 4321" in s.evidence
    assert "p50 200 ms, p90 400 ms" in s.evidence and "bucket resolution" in s.evidence
    assert "output blocks p50 / p99: 8.0M / 60.0M, 1.0k / 9.0k rows" in s.evidence
    assert s.figures["nodes"] == ["n1"] and s.figures["task_indexes"] == [7]
    assert s.figures["limit_s"] == 5.0  # 3 x 0.4 s is under the 5 s floor
    assert "repartition(6)" in s.fix and "10.0.0.1" in s.fix
    assert "raytop stacks --operator 'ReadRange->MapBatches(pre)'" in s.fix


def test_it_is_raised_only_once_the_task_passed_the_limit_for_a_few_evaluations():
    adv = Advisor()
    raised_at = None
    for i, s in enumerate(sc.stragglers()):  # the task has run 2 s + i
        if any(x.rule == "stragglers" for x in adv.update(s)) and raised_at is None:
            raised_at = i
    assert raised_at == 3 + 2  # over 5 s from i = 3, then RAISE_AFTER = 3 evaluations


def test_a_slow_p90_raises_the_limit():
    # p90 2 s: the limit is 6 s; a task that has run 2-21 s passes it later, still found
    (s,) = _stragglers(sc.stragglers(p90=2.0))
    assert s.figures["limit_s"] == 6.0
    assert not _stragglers(sc.stragglers(p90=8.0))  # 24 s limit: never reached


def test_no_finding_without_enough_finished_tasks():
    assert not _stragglers(sc.stragglers(count=9))


def test_no_finding_when_most_running_tasks_are_that_slow():
    # 3 of 2 running (the probe saw 3 over its own limit): the operator slowed down
    assert not _stragglers(sc.stragglers(slow_count=3))


def test_no_finding_while_the_task_waits_for_a_worker():
    def waiting(i):
        s = sc.stragglers(n=20)[i]
        return _map_pre(s, lambda t: replace(t, slow_tasks=tuple(
            replace(x, running_s=None, node_id=None) for x in t.slow_tasks)))
    assert not _stragglers([waiting(i) for i in range(20)])


def test_no_finding_while_the_operators_outputs_wait():
    hist = history(lambda i: snap(i, [sc._pre(running=2, bp=("outputs:DownstreamCapacity",),
                                              tails=sc.straggler_tails(2.0 + i)), sc._model()],
                                  nodes=[node(cpus=3)], plan=sc.model_plan()))
    assert not _stragglers(hist)


def test_no_finding_without_the_probe_or_on_the_healthy_scenarios():
    probe_free = [_map_pre(s, lambda t: replace(t, slow_tasks=None, slow_task_count=None))
                  for s in sc.stragglers()]
    assert not _stragglers(probe_free)
    assert not _stragglers(sc.healthy()) and not _stragglers(sc.consumer_bound())


def _map_pre(s, fn):
    ds = s.datasets[0]
    ops = tuple(replace(o, tails=fn(o.tails)) if o.tails is not None else o for o in ds.operators)
    return replace(s, datasets=(replace(ds, operators=ops),))
