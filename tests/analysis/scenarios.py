"""Histories for each rule, and a healthy one, all hand-built."""

from __future__ import annotations

from raytop.tails import OperatorTails, Percentiles, SlowTask

from .builders import GIB, MIB, gpu, history, lop, node, op, plan_of, snap

PRE = "ReadRange->MapBatches(pre)"
MODEL = "MapBatches(Model)"


def model_plan(min_size=1, max_size=2, num_gpus=None, batch_size=None, read_size=None, memory=None):
    args = {}
    if num_gpus:
        args["num_gpus"] = num_gpus
    if memory:
        args["memory"] = memory
    logical = [lop("0", "ReadRange", can_modify_num_rows=True, min_size=read_size, max_size=read_size),
               lop("1", "MapBatches", "pre", inputs=["0"], min_size=read_size, max_size=read_size),
               lop("2", "MapBatches", "Model", inputs=["1"], compute="actor", min_size=min_size,
                   max_size=max_size, ray_remote_args=args, batch_size=batch_size)]
    return plan_of([(PRE, "TaskPoolMapOperator", ["0", "1"]),
                    (MODEL, "ActorPoolMapOperator", ["2"])], logical)


def _pre(**kw):
    base = dict(q=5, running=1, bp=("tasks:ResourceBudget",), cpu=1.0, budget_store=0,
                avg_block_bytes=8 * MIB, avg_task_s=0.3, tasks_finished=50, rows_total=100_000,
                avg_block_rows=1000)
    base.update(kw)
    return op(PRE, **base)


def _model(**kw):
    base = dict(compute="actor", q=3, running=2, actors=(2, 0, 0, 0), cpu=2.0,
                avg_block_bytes=8 * MIB, avg_task_s=0.5, tasks_finished=20)
    base.update(kw)
    return op(MODEL, **base)


def healthy(n=20, with_gpu=False):
    plan = model_plan(num_gpus=1 if with_gpu else None, batch_size=64)
    gpus = [gpu(util=92, used=9 * GIB, operator=MODEL)] if with_gpu else []
    return history(lambda i: snap(i, [_pre(), _model(gpu_used=2.0 if with_gpu else None)],
                                  nodes=[node(cpus=3, gpus=2 if with_gpu else None, gpu_list=gpus,
                                              heap=3 * GIB)],
                                  plan=plan), n)


def spilling(n=20):
    return history(lambda i: snap(i, [_pre(), _model()], nodes=[node(cpus=3, spilled=i * 20 * MIB,
                                                                      store_used=800 * MIB)],
                                  plan=model_plan()), n)


def store_full(n=20):
    return history(lambda i: snap(i, [_pre(), _model()], nodes=[node(cpus=3, store_used=960 * MIB)],
                                  plan=model_plan()), n)


def small_blocks(n=20):
    return history(lambda i: snap(i, [_pre(avg_block_bytes=2048, avg_task_s=0.004, tasks_finished=900 + i,
                                           rows_total=1_000_000, avg_block_rows=250), _model()],
                                  nodes=[node(cpus=3)], plan=model_plan()), n)


def large_blocks(n=20):
    return history(lambda i: snap(i, [_pre(avg_block_bytes=300 * MIB, rows_total=1000, avg_block_rows=500),
                                      _model()], nodes=[node(cpus=3)], plan=model_plan()), n)


def input_starved(n=20):
    return history(lambda i: snap(i, [_pre(q=10, bp=("tasks:ConcurrencyCap",)),
                                      _model(q=0, actors=(2, 0, 2, 0))],
                                  nodes=[node(cpus=4)], plan=model_plan(read_size=1)), n)


def pool_undersized(n=20):
    return history(lambda i: snap(i, [_pre(cpu=0.0, running=0),
                                      _model(q=8 + i, actors=(1, 0, 0, 0), cpu=1.0)],
                                  nodes=[node(cpus=4)], plan=model_plan(max_size=1)), n)


def gpu_oversubscribed(n=20):
    return history(lambda i: snap(i, [_pre(), _model(q=6, actors=(1, 1, 0, 0), gpu_used=1.0)],
                                  nodes=[node(cpus=3, gpus=1)], plan=model_plan(2, 2, num_gpus=1)), n)


def stateless_model(n=5):
    logical = [lop("0", "ReadRange", can_modify_num_rows=True),
               lop("1", "MapBatches", "infer", inputs=["0"], ray_remote_args={"num_gpus": 1})]
    plan = plan_of([("ReadRange->MapBatches(infer)", "TaskPoolMapOperator", ["0", "1"])], logical)
    return history(lambda i: snap(i, [op("ReadRange->MapBatches(infer)", q=4, gpu_used=1.0, cpu=1.0)],
                                  nodes=[node(cpus=2, gpus=1)], plan=plan), n)


def fusion_break(n=5):
    logical = [lop("0", "ReadRange", can_modify_num_rows=True), lop("1", "Map", "a", inputs=["0"]),
               lop("2", "MapBatches", "b", inputs=["1"], ray_remote_args={"num_cpus": 0.5})]
    plan = plan_of([("ReadRange->Map(a)", "TaskPoolMapOperator", ["0", "1"]),
                    ("MapBatches(b)", "TaskPoolMapOperator", ["2"])], logical)
    return history(lambda i: snap(i, [op("ReadRange->Map(a)", q=3), op("MapBatches(b)", q=1)],
                                  nodes=[node(cpus=2)], plan=plan), n)


def heap_pressure(n=20):
    return history(lambda i: snap(i, [_pre(heap_bytes=1 * GIB), _model(heap_bytes=12 * GIB)],
                                  nodes=[node(cpus=3, mem_used=int(15 * GIB), heap=13 * GIB)],
                                  plan=model_plan()), n)


def worker_memory_limit(n=20):
    return history(lambda i: snap(i, [_pre(), _model(heap_bytes=2 * 950 * MIB)], nodes=[node(cpus=3)],
                                  plan=model_plan(memory=1000 * MIB)), n)


def gpu_underutilized(n=20, readings=True):
    gpus = [gpu(util=20, used=1 * GIB, operator=MODEL)] if readings else []
    return history(lambda i: snap(i, [_pre(), _model(gpu_used=2.0)],
                                  nodes=[node(cpus=3, gpus=2, gpu_list=gpus)],
                                  plan=model_plan(num_gpus=1, batch_size=32)), n)


def gpu_memory_risk(n=20):
    gpus = [gpu(util=95, used=int(15.8 * GIB), operator=MODEL)]
    return history(lambda i: snap(i, [_pre(), _model(gpu_used=2.0)],
                                  nodes=[node(cpus=3, gpus=2, gpu_list=gpus)],
                                  plan=model_plan(num_gpus=1, batch_size=64)), n)


def count_plan(max_size=1, num_gpus=None):
    """range -> map_batches(Model, concurrency=max_size) -> count(): Ray adds Project and
    AggregateNumRows after the model."""
    args = {"num_gpus": num_gpus} if num_gpus else {}
    logical = [lop("0", "ReadRange", can_modify_num_rows=True),
               lop("1", "MapBatches", "Model", inputs=["0"], compute="actor",
                   min_size=1 if num_gpus else max_size, max_size=max_size, ray_remote_args=args,
                   batch_size=100),
               lop("2", "Project", inputs=["1"]),
               lop("3", "AggregateNumRows", inputs=["2"], is_map=False)]
    return plan_of([("ReadRange", "TaskPoolMapOperator", ["0"]),
                    (MODEL, "ActorPoolMapOperator", ["1"]),
                    ("Project", "TaskPoolMapOperator", ["2"]),
                    ("AggregateNumRows", "AllToAllOperator", ["3"])], logical)


def pool_before_count(n=20):
    """The fixed pool is the bottleneck, the read holds the machine's other CPU (so none is
    free) and blocks pile up in front of count()'s Project, which runs a task now and then."""
    return history(lambda i: snap(i, [op("ReadRange", q=40 - i, running=1, cpu=1.0,
                                         bp=("tasks:ResourceBudget",)),
                                      _model(q=4 + i, actors=(1, 0, 0, 0), cpu=1.0, running=2),
                                      op("Project", q=3 + 2 * i, running=1, cpu=0.0),
                                      op("AggregateNumRows", running=0, cls="AllToAllOperator")],
                                  nodes=[node(cpus=2)], plan=count_plan()), n)


def gpu_pool_beyond_cluster(n=20):
    """max_size=4 actors of one GPU each on a one-GPU machine: Ray's autoscaler never asks for
    the actors it cannot place, so none is pending; the one actor is busy with blocks queued."""
    return history(lambda i: snap(i, [op("ReadRange", q=20, running=1, cpu=1.0),
                                      _model(q=5, actors=(1, 0, 0, 0), cpu=1.0, gpu_used=1.0, running=2),
                                      op("Project", q=0, running=0),
                                      op("AggregateNumRows", running=0, cls="AllToAllOperator")],
                                  nodes=[node(cpus=4, gpus=1)], plan=count_plan(4, num_gpus=1)), n)


# Real error texts, as the probe's describe_error gives them (type: root-cause line).
CUDA_OOM = ("RayTaskError(UserCodeException): torch.OutOfMemoryError: CUDA out of memory. Tried to "
            "allocate 54.91 GiB. GPU 0 has a total capacity of 139.81 GiB of which 41.64 GiB is free. "
            "Including non-PyTorch memory, this process has 98.16 GiB memory in use. Of the allocated "
            "memory 96.03 GiB is allocated by PyTorch, and 1.03 GiB is reserved by PyTorch but "
            "unallocated. If reserved but unallocated memory is large try setting "
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.")
CUDA_OOM_OLD = ("RayTaskError(RuntimeError): RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB "
                "(GPU 0; 15.78 GiB total capacity; 13.10 GiB already allocated; 1.12 GiB free; "
                "13.50 GiB reserved in total by PyTorch)")
RAY_OOM = "OutOfMemoryError: Task was killed due to the node running low on memory."
STORE_FULL = ("ObjectStoreFullError: Failed to put object ffffffff in object store because it is full. "
              "Object size is 268435456 bytes.")
DISK_FULL = ("OutOfDiskError: Local disk is full. The object cannot be created because the local "
             "object store is full and the local disk's utilization is over capacity")
ACTOR_DIED = ("ActorDiedError: The actor died unexpectedly before finishing this task. class_name: "
              "MapWorker actor_id: 8f1c4e")
USER_ERROR = "RayTaskError(UserCodeException): KeyError: 'label'"


def failed_with(error, n_running=12, n_failed=1, batch_size=64, with_gpu=True, source="probe",
                heap=None):
    """A model pipeline that runs, then fails with ``error`` in the model (one task failed)."""
    plan = model_plan(num_gpus=1 if with_gpu else None, batch_size=batch_size)
    gpus = [gpu(util=90, used=int(15.5 * GIB), operator=MODEL)] if with_gpu else []

    def make(i):
        failed = i >= n_running
        s = snap(i, [_pre(), _model(tasks_failed=1 if failed else 0, heap_bytes=heap,
                                    gpu_used=1.0 if with_gpu else None)],
                 nodes=[node(cpus=3, gpus=1 if with_gpu else None, gpu_list=gpus)],
                 plan=plan, state="FAILED" if failed else "RUNNING")
        if failed:
            d = s.datasets[0]
            s = s.__class__(**{**s.__dict__, "datasets": (d.__class__(**{
                **d.__dict__, "error": error if source == "probe" else None, "source": source}),)})
        return s
    return history(make, n_running + n_failed)


def actor_restarts(n=20, at=None):
    """An actor pool whose one actor keeps dying: restarting in every other sample (or only in
    the samples ``at``)."""
    def restarting(i):
        return int(i in at) if at is not None else i % 2
    return history(lambda i: snap(i, [_pre(), _model(actors=(1 - restarting(i), 0, 0, restarting(i)), q=3)],
                                  nodes=[node(cpus=3)], plan=model_plan()), n)


def _with_consumer(s, i, user_per_s, blocked_per_s):
    from raytop.model import ConsumerStats
    d = s.datasets[0]
    c = ConsumerStats(blocked_s=0.2 + blocked_per_s * i, user_s=user_per_s * i, first_batch_s=0.2,
                      total_s=0.0, batches=2 * i, rows=200 * i)
    return s.__class__(**{**s.__dict__, "datasets": (d.__class__(**{**d.__dict__, "consumer": c}),)})


def consumer_bound(n=20):
    """The driver's loop takes 0.9 s of every second in its own code; the one pipeline operator
    runs ahead, held back by Ray Data's budget (the iterator's prefetched blocks hold it)."""
    pre = "ReadRange->MapBatches(prep)"
    return history(lambda i: _with_consumer(
        snap(i, [op(pre, q=30 - i, running=2, cpu=2.0, bp=("tasks:ResourceBudget",), output_queue_blocks=1)],
             nodes=[node(cpus=2)]), i, 0.9, 0.05), n)


def pipeline_bound(n=20):
    """The loop mostly waits (blocked): the undersized pool is what limits it."""
    return [_with_consumer(s, i, 0.1, 0.85) for i, s in enumerate(pool_undersized(n))]


def pool_first_before_count(n=20):
    """from_items -> the fixed pool (first operator) -> count(): no read to take a CPU from, but
    count()'s Project holds the other CPU for next to no work."""
    logical = [lop("1", "MapBatches", "Model", compute="actor", min_size=1, max_size=1, batch_size=100),
               lop("2", "Project", inputs=["1"]), lop("3", "AggregateNumRows", inputs=["2"], is_map=False)]
    plan = plan_of([(MODEL, "ActorPoolMapOperator", ["1"]), ("Project", "TaskPoolMapOperator", ["2"]),
                    ("AggregateNumRows", "AllToAllOperator", ["3"])], logical)
    return history(lambda i: snap(i, [_model(q=45 - i, actors=(1, 0, 0, 0), cpu=1.0, running=2),
                                      op("Project", q=1, running=1, cpu=1.0, bp=("tasks:ResourceBudget",)),
                                      op("AggregateNumRows", running=0, cls="AllToAllOperator")],
                                  nodes=[node(cpus=2)], plan=plan), n)


def stalled(n=20):
    """range -> map_batches(Model, num_gpus=1) -> count() on a machine with no GPU: the read is
    done, the model's one actor cannot be placed, nothing moves for over a minute (5 s apart)."""
    return history(lambda i: snap(i, [op("ReadRange", running=0, state="FINISHED", rows_out=1000,
                                         tasks_finished=4),
                                      _model(q=4, running=0, actors=(0, 1, 0, 0), tasks_finished=0,
                                             rows_out=0, state="RUNNING"),
                                      op("Project", running=0, rows_out=0, tasks_finished=0),
                                      op("AggregateNumRows", running=0, cls="AllToAllOperator")],
                                  nodes=[node(cpus=2, gpus=0)], plan=count_plan(1, num_gpus=1),
                                  dt=5.0), n)


def straggler_tails(running_s, count=40, p90=0.4, slow_count=None, node_id="n1",
                    task_index=7) -> OperatorTails:
    """The pre operator's tails: finished tasks p50 0.2 s / p90 ``p90``, and one task that has
    run ``running_s`` on ``node_id`` (a list of them for several)."""
    runs = running_s if isinstance(running_s, list) else [running_s]
    slow = tuple(SlowTask(age_s=None if r is None else r + 0.5, running_s=r, node_id=node_id,
                          worker_pid=4321, task_index=task_index + k) for k, r in enumerate(runs))
    return OperatorTails(task_s=Percentiles(p50=0.2, p90=p90, p99=0.9, count=count),
                         block_bytes=Percentiles(p50=8 * MIB, p90=9 * MIB, p99=60 * MIB, count=count),
                         block_rows=Percentiles(p50=1000, p90=1100, p99=9000, count=count),
                         slow_tasks=slow, slow_task_count=len(slow) if slow_count is None else slow_count)


def stragglers(n=20, **kw):
    """One read->pre task that keeps running (2 s at the start, +1 s a sample) on node n1
    while the pre operator's other tasks take 0.2-0.4 s."""
    return history(lambda i: snap(i, [_pre(running=2, tails=straggler_tails(2.0 + i, **kw)), _model()],
                                  nodes=[node(cpus=3)], plan=model_plan()), n)
