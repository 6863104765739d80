"""The input-starved fix that lowers the actors' CPUs must free a whole upstream task's worth:
Ray places a task only where its whole ``num_cpus`` fits, so a pool of one 1-CPU actor halved to
0.5 next to 1-CPU decode tasks on a full node changes nothing (measured: ×0.88 rows/s on the
input_starved demo). `raytop tune` tries this fix as it is written."""

from __future__ import annotations

from raytop.analysis.advisor import advise
from tests.analysis import scenarios as sc
from tests.analysis.builders import history, node, op, snap


def _starved(actors: int, num_gpus: int | None, cpus: float) -> list:
    """A node whose CPUs are all held: ``actors`` idle 1-CPU actors and 1-CPU ``pre`` tasks in
    the rest; ``pre`` has more work (queued blocks) but no task pool cap."""
    pre_tasks = cpus - actors
    plan = sc.model_plan(min_size=actors, max_size=actors, num_gpus=num_gpus)
    return history(lambda i: snap(i, [
        op(sc.PRE, q=10, running=pre_tasks, cpu=float(pre_tasks)),
        op(sc.MODEL, compute="actor", q=0, running=actors, actors=(actors, 0, actors, 0),
           cpu=float(actors))],
        nodes=[node(cpus=cpus, gpus=num_gpus)], plan=plan))


def _fix(hist) -> str:
    (found,) = [s for s in advise(hist) if s.rule == "input-starved"]
    return found.fix


def test_one_gpu_actor_next_to_whole_cpu_tasks_reserves_none():
    fix = _fix(_starved(actors=1, num_gpus=1, cpus=2))
    assert fix.startswith("ds.map_batches(Model, num_cpus=0, ...)  # now 1"), fix


def test_two_actors_at_half_a_cpu_free_a_whole_one():
    fix = _fix(_starved(actors=2, num_gpus=None, cpus=4))
    assert fix.startswith("ds.map_batches(Model, num_cpus=0.5, ...)"), fix


def test_a_cpu_actor_is_not_left_without_cpus():
    fix = _fix(_starved(actors=1, num_gpus=None, cpus=2))
    assert "Model, num_cpus" not in fix, fix  # another fix (the upstream's), not 0.5 or 0
