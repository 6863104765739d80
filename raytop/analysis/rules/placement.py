"""Where a model runs: gpu-oversubscribed (a pool asks for more GPUs than exist) and
stateless-model (a GPU function re-loads its model in every task)."""

from __future__ import annotations

from dataclasses import dataclass

from ...format import fmt_bytes, fmt_plain
from ...model import LogicalOp, OperatorStats, Snapshot, Suggestion
from .. import thresholds as th
from ..window import Window, busy_actors, cluster_gpus, held_share
from .actors import spare_gpus
from .common import actor_strategy, call, first_logical, is_read, model_logical, op_num_gpus, suggest

# ---- gpu-oversubscribed -------------------------------------------------------------------


@dataclass(frozen=True)
class _GpuPool:
    key: str
    label: str
    model: LogicalOp | None
    gpu_each: float
    samples: list[tuple[Snapshot, OperatorStats]]


def _gpu_pool(win: Window, ds_id: str, key: str) -> _GpuPool | None:
    ops = win.op_samples(ds_id, key)
    model = model_logical(win, ds_id, key)
    gpu_each = op_num_gpus(model)
    if gpu_each <= 0:  # without the plan, use what running actors actually hold
        per = [o.usage.gpu / o.actors.running for _, o in ops if o.usage and o.usage.gpu
               and o.actors and o.actors.running]
        gpu_each = max(per) if per else 0.0
    if gpu_each <= 0 or len(ops) < th.MIN_SAMPLES:
        return None
    return _GpuPool(key, win.label(ds_id, key), model, gpu_each, ops)


def _pending_beyond(pool: _GpuPool, total_g: float) -> tuple[float, int, bool] | None:
    """Actors pending for GPUs that do not exist: (share of samples, actors wanted, none ran)."""
    pend = [(s, o.actors) for s, o in pool.samples if o.actors is not None and (o.actors.pending or 0) >= 1]
    share = held_share([True] * len(pend) + [False] * (len(pool.samples) - len(pend)))
    if share is None:
        return None
    wanted = max((a.running or 0) + (a.pending or 0) for _, a in pend)
    if wanted * pool.gpu_each <= total_g:
        return None  # pending for another reason (startup, CPU); not GPU oversubscription
    # Actors take seconds to start (a model loads): "none runs" only means a hang once it has
    # lasted ACTOR_START_S, else it is start-up.
    ops = pool.samples
    none_running = (ops[-1][0].t - ops[0][0].t >= th.ACTOR_START_S and all(
        not (o.actors.running or 0) for _, o in ops if o.actors is not None))
    return share, wanted, none_running


def _capped_by_gpus(win: Window, pool: _GpuPool, total_g: float) -> tuple[float, int, bool] | None:
    """A pool whose max_size needs more GPUs than the cluster has, saturated (every actor busy,
    blocks queued: it would grow) while no GPU is left for another actor. Ray Data's autoscaler
    does not even ask for the actors it cannot place, so nothing is pending."""
    max_size = pool.model.max_size if pool.model is not None else None
    if max_size is None or max_size * pool.gpu_each <= total_g:
        return None
    flags = []
    for s, o in pool.samples:
        a, spare = o.actors, win.summary(s, spare_gpus)
        flags.append(a is not None and a.running is not None and a.running >= 1
                     and busy_actors(o) == a.running and (o.queued_blocks or 0) >= 1 and a.running < max_size
                     and spare is not None and spare < pool.gpu_each)
    share = held_share(flags)
    return (share, max_size, False) if share is not None else None


def _oversubscribed_suggestion(win: Window, ds_id: str, pool: _GpuPool, total_g: float,
                               found: tuple[float, int, bool], pending: bool) -> Suggestion:
    share, wanted, none_running = found
    fits = max(1, int(total_g // pool.gpu_each))
    target = pool.model.name if pool.model is not None else first_logical(win, ds_id, pool.key)
    low = min(pool.model.min_size or 1, fits) if pool.model is not None else 1
    fix = (call(target, actor_strategy(low, fits))
           + f"  # {fmt_plain(total_g)} GPU(s) fit {fits} actors of num_gpus={fmt_plain(pool.gpu_each)}"
           + f"; or, if the model fits, num_gpus={total_g / wanted:.2g} per actor to run {wanted}")
    how = (f"actors pending in {round(share * len(pool.samples))}/{len(pool.samples)} samples"
           if pending else f"the pool stayed below max_size={wanted}, every actor busy with blocks "
           f"queued and no GPU left for another, in {round(share * len(pool.samples))}/"
           f"{len(pool.samples)} samples")
    evidence = (f"{pool.label} wants {wanted} actors x num_gpus={fmt_plain(pool.gpu_each)} but the "
                f"cluster has {fmt_plain(total_g)} GPU(s): {how} {win.describe()}")
    return suggest("gpu-oversubscribed", "critical" if none_running else "warning",
                   f"{pool.label} asks for more GPUs than exist", evidence, fix,
                   operator=pool.label, op_id=pool.key, dataset_id=ds_id, window=win, share=share,
                   figures={"actors_wanted": wanted, "gpus_each": pool.gpu_each,
                            "cluster_gpus": total_g})


def check_gpu_oversubscribed(win: Window) -> list[Suggestion]:
    out: list[Suggestion] = []
    total_g = cluster_gpus(win.latest)
    if total_g is None:
        return out
    for ds_id in win.dataset_ids():
        for key in win.actor_ops(ds_id):
            pool = _gpu_pool(win, ds_id, key)
            if pool is None:
                continue
            found = _pending_beyond(pool, total_g)
            pending = found is not None
            found = found or _capped_by_gpus(win, pool, total_g)
            if found is not None:
                out.append(_oversubscribed_suggestion(win, ds_id, pool, total_g, found, pending))
    return out


# ---- stateless-model ----------------------------------------------------------------------


def _gpu_function(win: Window, ds_id: str, lop: LogicalOp) -> Suggestion:
    """A function UDF asking for GPUs, from the plan."""
    gpus = op_num_gpus(lop)
    evidence = (f"{lop.name} is a function run as Ray tasks with num_gpus={fmt_plain(gpus)}: every "
                "task loads the model again onto the GPU and frees it afterwards")
    fix = ("turn it into a callable class that loads the model once in __init__, then "
           + call(lop.name, f"{actor_strategy(1, 1)}, num_gpus={fmt_plain(gpus)}"))
    key = lop.physical_id or lop.physical or lop.name
    return suggest("stateless-model", "warning", f"{lop.name} reloads its model per task",
                   evidence, fix, operator=win.label(ds_id, key), op_id=key, dataset_id=ds_id,
                   window=win, figures={"num_gpus": gpus})


def _costly_task_op(win: Window, ds_id: str, key: str) -> Suggestion | None:
    """A task operator holding GPUs, or a lot of heap per task with long tasks."""
    ops = win.op_samples(ds_id, key)
    if not ops or ops[-1][1].compute != "task":
        return None
    op, name = ops[-1][1], win.label(ds_id, key)
    gpu = op.usage.gpu if op.usage is not None else None
    per_task = (op.heap_bytes / op.tasks_running) if op.heap_bytes and op.tasks_running else None
    heavy = (per_task is not None and per_task >= th.STATELESS_HEAP_PER_TASK
             and (op.avg_task_s or 0) >= th.STATELESS_MIN_TASK_S)
    if not (gpu and gpu > 0) and not heavy:
        return None
    if gpu and gpu > 0:
        evidence = f"{name} runs as tasks holding {fmt_plain(gpu)} GPU(s): the model loads per task"
        sev = "warning"
    else:
        evidence = (f"{name} runs as tasks with {fmt_bytes(per_task)} of heap per task and "
                    f"{op.avg_task_s:.1f} s per task: a large fixed cost paid on every call")
        sev = "info"
    fix = ("a callable class that loads the model once in __init__, then "
           + call(first_logical(win, ds_id, key), actor_strategy(1, 2)))
    return suggest("stateless-model", sev, f"{name} pays its setup cost per task",
                   evidence + f" {win.describe()}", fix, operator=name, op_id=key,
                   dataset_id=ds_id, window=win, share=0.6 if sev == "info" else 1.0,
                   figures={"gpu": gpu, "heap_per_task_bytes": per_task, "avg_task_s": op.avg_task_s})


def check_stateless_model(win: Window) -> list[Suggestion]:
    out = []
    for ds_id in win.dataset_ids():
        plan = win.plan(ds_id)
        planned = [_gpu_function(win, ds_id, lop) for lop in (plan.logical if plan else ())
                   if lop.compute == "task" and op_num_gpus(lop) > 0 and lop.is_map
                   and not is_read(lop.name)]
        out.extend(planned)
        done = {s.op_id for s in planned}
        for key in win.operator_keys(ds_id):
            found = None if key in done else _costly_task_op(win, ds_id, key)
            if found is not None:
                out.append(found)
    return out
