"""ray_adapter on the shapes of Ray's internals that differ between the supported releases
(docs/ray-internals.md, "Versions"; docs/compat.md): each release's names give the figure, and
what a release lacks reads as None, never an error. Pure: stand-ins for Ray's objects."""

from __future__ import annotations

from types import SimpleNamespace

from raytop.sources import ray_adapter


class _Op:
    """A physical operator with only the attributes given."""

    def __init__(self, name: str, **attrs) -> None:
        self.name = name
        self.input_dependencies: list = []
        self.__dict__.update(attrs)


class ActorPoolMapOperator(_Op):  # compared by class name when it is not Ray's class
    pass


class _Buffer:  # an internal bundle queue: methods
    def __init__(self, blocks: int, nbytes: int) -> None:
        self._blocks, self._bytes = blocks, nbytes

    def num_blocks(self) -> int:
        return self._blocks

    def estimate_size_bytes(self) -> int:
        return self._bytes


def _queue(blocks: int, nbytes: int) -> SimpleNamespace:  # an OpState queue: attributes
    return SimpleNamespace(num_blocks=blocks, memory_usage=nbytes)


def _read(op: _Op, state=None):
    executor = SimpleNamespace(_topology={op: state or SimpleNamespace()})
    return ray_adapter.read_dataset(executor, "ds_1", "RUNNING").operators[0]


def test_average_task_time_from_either_name():
    before_2_55 = SimpleNamespace(task_completion_time_total_s=6.0, num_tasks_finished=3)
    since_2_55 = SimpleNamespace(task_completion_time_s=6.0, num_tasks_finished=3)
    assert _read(_Op("Map", _metrics=before_2_55)).avg_task_s == 2.0
    assert _read(_Op("Map", _metrics=since_2_55)).avg_task_s == 2.0
    assert _read(_Op("Map", _metrics=SimpleNamespace(num_tasks_finished=3))).avg_task_s is None


def test_per_input_queues_of_a_zip_before_and_since_2_56():
    state = SimpleNamespace(input_queues=[_queue(1, 100), _queue(1, 100)])
    buffers = [_Buffer(2, 200), _Buffer(0, 0)]
    before_2_56 = _Op("Zip", _input_buffers=buffers)
    since_2_56 = _Op("Zip", _input_queues=buffers)
    for op in (before_2_56, since_2_56):
        read = _read(op, state)
        assert read.inputs_queue_blocks == (3, 1) and read.inputs_queue_bytes == (300, 100)
    assert _read(_Op("Zip"), state).inputs_queue_blocks == (1, 1)  # external queues only


def test_actor_counts_without_idle_before_2_56():
    info = SimpleNamespace(running=2, pending=1, restarting=0)  # no `idle` before 2.56
    actors = _read(ActorPoolMapOperator("MapBatches(M)", get_actor_info=lambda: info)).actors
    assert (actors.running, actors.pending, actors.restarting, actors.idle) == (2, 1, 0, None)


def test_an_operator_with_none_of_the_names_reads_as_unknown():
    read = _read(_Op("Map"))
    assert read.name == "Map" and read.op_id == "Map_0"
    assert read.input_queue_blocks is None and read.tasks_running is None
    assert read.rows_out is None and read.avg_task_s is None and read.actors is None
    assert read.inputs_queue_blocks == () and read.backpressure == ()
