"""Scheduling rules around model operators: input-starved, actor-pool-undersized,
gpu-oversubscribed, stateless-model."""

from __future__ import annotations

from typing import List, Optional

from ...model import OperatorStats, Suggestion, op_key
from .. import thresholds as th
from ..bottleneck import find_bottleneck
from ..window import Window, busy_actors, cluster_gpus, free_cpus, is_source_op
from ...format import fmt_bytes, fmt_plain
from .common import (actor_strategy, call, first_logical, is_read, mean,
                                          model_logical, op_num_cpus, op_num_gpus, suggest)


def _actor_ops(win: Window, ds_id: str) -> List[str]:
    """Op keys of the actor-pool operators."""
    return [k for k in win.operator_keys(ds_id)
            if any(o.actors is not None for _, o in win.op_samples(ds_id, k))]


def _op_in(d, key: Optional[str]) -> Optional[OperatorStats]:
    if key is None:
        return None
    return next((o for o in d.operators if op_key(o) == key and not is_source_op(o)), None)


def check_input_starved(win: Window) -> List[Suggestion]:
    out = []
    for ds_id in win.dataset_ids():
        for key in _actor_ops(win, ds_id):
            up_key = win.upstream_of(ds_id, key)
            samples = win.running(ds_id)
            if not win.enough(samples) or up_key is None:
                continue
            name, up_name = win.label(ds_id, key), win.label(ds_id, up_key)
            model = model_logical(win, ds_id, key)
            up_logical = win.logical_ops(ds_id, up_key)
            up_cpus = op_num_cpus(up_logical[-1] if up_logical else None)
            actor_cpus = op_num_cpus(model)
            starved, capped, idle_counts, up_running, free = [], 0, [], [], []
            for s, d in samples:
                op, up = _op_in(d, key), _op_in(d, up_key)
                if op is None or op.actors is None or up is None or op.actors.running is None:
                    continue
                running, idle = op.actors.running, op.actors.idle or 0
                q = op.queued_blocks
                up_busy = (up.state != "FINISHED") and ((up.queued_blocks or 0) > 0 or (up.tasks_running or 0) > 0)
                hit = running >= 1 and idle / running >= th.IDLE_FRACTION and q == 0 and up_busy
                starved.append(hit)
                if not hit:
                    continue
                idle_counts.append(idle)
                up_running.append(up.tasks_running)
                fc = free_cpus(s)
                free.append(fc)
                size = (up_logical[-1].max_size or up_logical[-1].min_size) if up_logical else None
                at_cap = ("tasks:ConcurrencyCap" in up.backpressure
                          or (size is not None and (up.tasks_running or 0) >= size))
                cpus_held_idle = idle * actor_cpus >= up_cpus and (fc is None or fc < up_cpus)
                under_used = fc is not None and fc >= up_cpus and not any(
                    b.startswith("outputs:") for b in up.backpressure)
                capped += bool(at_cap or cpus_held_idle or under_used)
            if len(starved) < th.MIN_SAMPLES:
                continue
            share = sum(starved) / len(starved)
            n_hit = sum(starved)
            if share < th.HOLD_FRACTION or capped < n_hit / 2:
                continue
            up_target = up_logical[-1].name if up_logical else win.name_of(ds_id, up_key).split("->")[-1]
            size = (up_logical[-1].max_size or up_logical[-1].min_size) if up_logical else None
            mean_free = mean(free)
            if size is not None:
                fix = call(up_target, f"compute=TaskPoolStrategy(size={size * 2})") + f"  # now size={size}"
            elif mean_free is not None and mean_free < up_cpus and actor_cpus >= 1 and model is not None:
                fix = (call(model.name, f"num_cpus={fmt_plain(actor_cpus / 2)}")
                       + f"  # now {fmt_plain(actor_cpus)}: idle actors hold the CPUs {up_target} needs")
            elif is_read(up_target):
                fix = call(up_target, "override_num_blocks=<more blocks>, concurrency=<more read tasks>")
            elif up_cpus > 0.5:
                fix = (call(up_target, f"num_cpus={fmt_plain(up_cpus / 2)}")
                       + f"  # now {fmt_plain(up_cpus)}: more {up_target} tasks fit at once")
            else:
                fix = f"more CPUs for {up_target}, or a cheaper {up_target}"
            evidence = (f"{name}: {fmt_plain(mean(idle_counts) or 0)} actors idle on average with an "
                        f"empty input queue in {n_hit}/{len(starved)} samples {win.describe()}, while "
                        f"{up_name} ran {fmt_plain(round(mean(up_running) or 0, 1))} tasks on average"
                        + (f" with {fmt_plain(round(mean_free, 1))} CPUs free" if mean_free is not None else ""))
            out.append(suggest("input-starved", "warning", f"{name} waits for input", evidence, fix,
                               operator=name, op_id=key, dataset_id=ds_id, window=win, share=share,
                               figures={"starved_samples": n_hit, "samples": len(starved),
                                        "upstream": up_name, "upstream_id": up_key,
                                        "mean_free_cpus": mean_free}))
    return out


def check_actor_pool_undersized(win: Window) -> List[Suggestion]:
    out = []
    for ds_id in win.dataset_ids():
        samples = win.running(ds_id)
        if not win.enough(samples):
            continue
        neck_key = find_bottleneck(win.snaps, ds_id, win.plans)
        if neck_key is None or neck_key not in _actor_ops(win, ds_id):
            continue
        neck = win.label(ds_id, neck_key)
        model = model_logical(win, ds_id, neck_key)
        cpu_each, gpu_each = op_num_cpus(model), op_num_gpus(model)
        ops = win.op_samples(ds_id, neck_key)
        hits, free_list, sizes = [], [], []
        for s, op in ops:
            a = op.actors
            if a is None or a.running is None:
                continue
            busy = busy_actors(op) or 0
            q = op.queued_blocks or 0
            at_max = (model is not None and model.max_size is not None
                      and a.running + (a.pending or 0) >= model.max_size)
            if model is None or model.max_size is None:
                at_max = not a.pending
            fc = free_cpus(s)
            gpu_ok = True
            if gpu_each > 0:
                total_g = cluster_gpus(s)
                used_g = sum(o.usage.gpu for d in s.datasets for o in d.operators
                             if o.usage is not None and o.usage.gpu is not None)
                gpu_ok = total_g is not None and total_g - used_g >= gpu_each
            room = fc is not None and fc >= cpu_each * 0.99 and gpu_ok
            hits.append(busy == a.running and busy >= 1 and q >= th.QUEUE_PER_ACTOR * busy and at_max and room)
            free_list.append(fc)
            sizes.append(a.running)
        if len(hits) < th.MIN_SAMPLES:
            continue
        share = sum(hits) / len(hits)
        if share < th.HOLD_FRACTION:
            continue
        cur_max = model.max_size if model is not None and model.max_size else max(sizes)
        cur_min = model.min_size if model is not None else None
        free_c = min(f for f, h in zip(free_list, hits, strict=True) if h and f is not None)
        extra = max(1, int(free_c // cpu_each)) if cpu_each > 0 else 1
        if gpu_each > 0:
            extra = 1
        new_max = cur_max + extra
        target = model.name if model is not None else first_logical(win, ds_id, neck_key)
        fix = (call(target, actor_strategy(cur_min, new_max))
               + f"  # now {actor_strategy(cur_min, cur_max).split('=', 1)[1]}")
        queues = [o.queued_blocks or 0 for _, o in ops]
        evidence = (f"{neck} is the bottleneck: all {fmt_plain(max(sizes))} actors busy, "
                    f"{min(queues)}..{max(queues)} blocks queued, pool at max_size={fmt_plain(cur_max)} "
                    f"in {sum(hits)}/{len(hits)} samples {win.describe()}, while {fmt_plain(free_c)}+ "
                    f"CPUs stayed free (each actor needs {fmt_plain(cpu_each)})")
        out.append(suggest("actor-pool-undersized", "warning", f"Actor pool of {neck} is too small",
                           evidence, fix, operator=neck, op_id=neck_key, dataset_id=ds_id,
                           window=win, share=share, figures={"max_size": cur_max, "suggested_max_size": new_max,
                                    "free_cpus": free_c, "queued_max": max(queues)}))
    return out


def check_gpu_oversubscribed(win: Window) -> List[Suggestion]:
    out = []
    for ds_id in win.dataset_ids():
        for key in _actor_ops(win, ds_id):
            name = win.label(ds_id, key)
            ops = win.op_samples(ds_id, key)
            model = model_logical(win, ds_id, key)
            gpu_each = op_num_gpus(model)
            if gpu_each <= 0:  # without the plan, use what running actors actually hold
                per = [o.usage.gpu / o.actors.running for _, o in ops if o.usage and o.usage.gpu
                       and o.actors and o.actors.running]
                gpu_each = max(per) if per else 0.0
            if gpu_each <= 0 or len(ops) < th.MIN_SAMPLES:
                continue
            pend = [(s, o) for s, o in ops if o.actors is not None and (o.actors.pending or 0) >= 1]
            share = len(pend) / len(ops)
            total_g = cluster_gpus(win.latest)
            if share < th.HOLD_FRACTION or total_g is None:
                continue
            wanted = max((o.actors.running or 0) + (o.actors.pending or 0) for _, o in pend)
            if wanted * gpu_each <= total_g:
                continue  # pending for another reason (startup, CPU); not GPU oversubscription
            # Actors take seconds to start (a model loads): "none runs" only means a hang
            # once it has lasted ACTOR_START_S, else it is start-up.
            none_running = (ops[-1][0].t - ops[0][0].t >= th.ACTOR_START_S and all(
                not (o.actors.running or 0) for _, o in ops if o.actors is not None))
            fits = max(1, int(total_g // gpu_each))
            target = model.name if model is not None else first_logical(win, ds_id, key)
            frac = total_g / wanted
            fix = (call(target, actor_strategy(min(model.min_size or 1, fits) if model else 1, fits))
                   + f"  # {fmt_plain(total_g)} GPU(s) fit {fits} actors of num_gpus={fmt_plain(gpu_each)}"
                   + f"; or, if the model fits, num_gpus={frac:.2g} per actor to run {wanted}")
            evidence = (f"{name} wants {wanted} actors x num_gpus={fmt_plain(gpu_each)} but the cluster "
                        f"has {fmt_plain(total_g)} GPU(s): actors pending in {len(pend)}/{len(ops)} "
                        f"samples {win.describe()}")
            out.append(suggest("gpu-oversubscribed", "critical" if none_running else "warning",
                               f"{name} asks for more GPUs than exist", evidence, fix,
                               operator=name, op_id=key, dataset_id=ds_id, window=win, share=share,
                               figures={"actors_wanted": wanted, "gpus_each": gpu_each,
                                        "cluster_gpus": total_g}))
    return out


def check_stateless_model(win: Window) -> List[Suggestion]:
    out = []
    for ds_id in win.dataset_ids():
        plan = win.plan(ds_id)
        done = set()
        if plan is not None:
            for lop in plan.logical:
                if lop.compute == "task" and op_num_gpus(lop) > 0 and lop.is_map and not is_read(lop.name):
                    evidence = (f"{lop.name} is a function run as Ray tasks with "
                                f"num_gpus={fmt_plain(op_num_gpus(lop))}: every task loads the model "
                                "again onto the GPU and frees it afterwards")
                    fix = ("turn it into a callable class that loads the model once in __init__, then "
                           + call(lop.name, f"{actor_strategy(1, 1)}, num_gpus={fmt_plain(op_num_gpus(lop))}"))
                    op_key_ = lop.physical_id or lop.physical or lop.name
                    done.add(op_key_)
                    out.append(suggest("stateless-model", "warning", f"{lop.name} reloads its model per task",
                                       evidence, fix, operator=win.label(ds_id, op_key_),
                                       op_id=op_key_, dataset_id=ds_id,
                                       window=win, figures={"num_gpus": op_num_gpus(lop)}))
        for key in win.operator_keys(ds_id):
            if key in done:
                continue
            name = win.label(ds_id, key)
            ops = win.op_samples(ds_id, key)
            if not ops or ops[-1][1].compute != "task":
                continue
            op = ops[-1][1]
            gpu = op.usage.gpu if op.usage is not None else None
            per_task = (op.heap_bytes / op.tasks_running) if op.heap_bytes and op.tasks_running else None
            heavy = (per_task is not None and per_task >= th.STATELESS_HEAP_PER_TASK
                     and (op.avg_task_s or 0) >= th.STATELESS_MIN_TASK_S)
            if not (gpu and gpu > 0) and not heavy:
                continue
            target = first_logical(win, ds_id, key)
            if gpu and gpu > 0:
                evidence, sev = f"{name} runs as tasks holding {fmt_plain(gpu)} GPU(s): the model loads per task", "warning"
            else:
                evidence = (f"{name} runs as tasks with {fmt_bytes(per_task)} of heap per task and "
                            f"{op.avg_task_s:.1f} s per task: a large fixed cost paid on every call")
                sev = "info"
            fix = ("a callable class that loads the model once in __init__, then "
                   + call(target, actor_strategy(1, 2)))
            out.append(suggest("stateless-model", sev, f"{name} pays its setup cost per task",
                               evidence + f" {win.describe()}", fix, operator=name, op_id=key,
                               dataset_id=ds_id, window=win, share=0.6 if sev == "info" else 1.0,
                               figures={"gpu": gpu, "heap_per_task_bytes": per_task,
                                        "avg_task_s": op.avg_task_s}))
    return out
