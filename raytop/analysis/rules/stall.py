"""stalled: a RUNNING dataset that has made no progress for ``STALL_S`` (``--stall-after``).

Progress is any change in what its operators have done (``analysis.progress``: rows out, a
Write's rows in, blocks, bytes, tasks finished, the consumer's batches). The time counts from the
last change, or from the dataset's start while it has produced nothing at all: start-up is not a
stall until it has lasted as long. A dataset whose source went stale (raytop cannot see it move)
or whose driver is gone (a dead job's dataset left RUNNING) is not judged.

What the finding says is what the pipeline waits for, read from the latest sample, first match:

- the consumer: the driver iterates the dataset and blocks wait at the pipeline's output, so its
  own loop stopped asking for batches. Not a pipeline stall: ``info``, "the consumer stopped
  pulling";
- actors pending with none running: they cannot be placed. The resources each asks for (the
  plan's ``num_gpus``/``num_cpus``/``resources``) against the largest node say whether they ever
  can (no node has them: lower the request or add nodes) or wait for what others hold;
- an operator with work waiting whose tasks ask for more than any node has (a function UDF with
  ``num_gpus=1`` on a CPU cluster: Ray Data counts the task it submitted as running);
- tasks running and none finishing: a UDF waiting on something (a lock, a service, a call with
  no timeout), or blocks too big to finish in the time;
- every operator held back (backpressure): on the object store (budget spent or the store full),
  or by the named policies;
- nothing running, pending or held: the executor schedules nothing; the driver's stack says why.

Every other case of the pipeline's is ``critical``. Figures are None where the snapshot did not
say (no plan: the resources asked are unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...format import fmt_bytes, fmt_count, fmt_plain
from ...model import (
    OK,
    ConsumerStats,
    DatasetStats,
    LogicalOp,
    OperatorStats,
    Snapshot,
    Suggestion,
    op_key,
    sum_known,
)
from .. import thresholds as th
from ..plan import canonical_remote_args
from ..window import Window, cluster_cpus, cluster_gpus, free_cpus, is_source_op
from .actors import spare_gpus
from .common import call, model_logical, suggest


@dataclass(frozen=True)
class _Asks:
    """What one task or actor of an operator asks Ray for (the plan's ``ray_remote_args``)."""

    target: str  # the logical op a fix addresses
    cpus: float
    gpus: float
    memory: float | None
    resources: dict[str, Any]

    def words(self) -> str:
        parts = [f"num_cpus={fmt_plain(self.cpus)}"]
        if self.gpus:
            parts.append(f"num_gpus={fmt_plain(self.gpus)}")
        if self.memory:
            parts.append(f"memory={fmt_bytes(self.memory)}")
        if self.resources:
            parts.append(f"resources={self.resources}")
        return ", ".join(parts)


def _asks(win: Window, ds_id: str, key: str) -> _Asks | None:
    model: LogicalOp | None = model_logical(win, ds_id, key)
    if model is None:
        return None
    ra = canonical_remote_args(model.ray_remote_args)
    try:
        memory = float(ra["memory"]) if ra.get("memory") else None
        return _Asks(model.name, float(ra["num_cpus"]), float(ra["num_gpus"] or 0), memory,
                     dict(ra["resources"]))
    except (TypeError, ValueError):  # a value the capture kept as text
        return None


def _node_max(snap: Snapshot, attr: str) -> float | None:
    vals = [getattr(n, attr) for n in snap.nodes if n.alive and getattr(n, attr) is not None]
    return max(vals) if vals else None


def _active(d: DatasetStats) -> list[OperatorStats]:
    return [o for o in d.operators if not is_source_op(o) and o.state not in ("FINISHED", "FAILED")]


def _driver_gone(snap: Snapshot, d: DatasetStats) -> bool:
    """The job's driver is not among the cluster's alive drivers (a dead job's dataset that the
    stats actor still lists as RUNNING); False when raytop cannot tell."""
    if snap.sources.get("drivers") != OK or (d.job_id is None and d.driver_pid is None):
        return False
    return not any((d.driver_pid is not None and x.pid == d.driver_pid)
                   or (d.job_id is not None and x.job_id == d.job_id) for x in snap.drivers)


def _watched(snap: Snapshot, d: DatasetStats) -> bool:
    """raytop sees this dataset move, if it moves: its source answers and its driver lives."""
    status = snap.sources.get(d.source) if d.source else None
    return (status is None or status == OK) and not _driver_gone(snap, d)


def _held_at_output(win: Window, ds_id: str, d: DatasetStats) -> bool:
    """Blocks wait at the pipeline's output for the consumer to take them. A consumer waiting
    for the pipeline takes every block as it comes: blocks there through a whole stall mean it
    stopped asking."""
    sinks = set(win.sinks(ds_id, d))
    return any((o.produced_blocks or 0) >= 1 for o in d.operators if op_key(o) in sinks)


def _op_words(o: OperatorStats, label: str) -> str:
    bits = []
    if o.tasks_running is not None:
        bits.append(f"{o.tasks_running} task{'s' if o.tasks_running != 1 else ''} running")
    a = o.actors
    if a is not None:
        bits.append(f"actors {fmt_plain(a.running) if a.running is not None else '?'} running, "
                    f"{fmt_plain(a.pending) if a.pending is not None else '?'} pending"
                    + (f", {a.restarting} restarting" if a.restarting else ""))
    if o.queued_blocks is not None:
        bits.append(f"{o.queued_blocks} blocks queued")
    if o.backpressure:
        bits.append("held back by " + "+".join(b.split(":", 1)[-1] for b in o.backpressure))
    return f"{label} ({', '.join(bits) or 'no figures'})"


# ---- what the pipeline waits for -----------------------------------------------------------


@dataclass(frozen=True)
class _Why:
    kind: str  # figures["waiting_on"]
    severity: str
    title: str
    what: str  # the evidence's sentence about it
    fix: str
    key: str | None = None  # the operator it names
    figures: dict[str, Any] | None = None


def _consumer(d: DatasetStats, c: ConsumerStats) -> _Why:
    pid = f" --pid {d.driver_pid}" if d.driver_pid else " --pid <the driver's pid>"
    return _Why(
        "consumer", "info", "The consumer stopped pulling batches",
        f"blocks wait at the pipeline's output and the driver's loop over the dataset has not "
        f"asked for the next batch (it took {fmt_count(c.batches)} so far): the consumer stopped "
        "pulling, the pipeline waits for it",
        "nothing to change in the pipeline: the driver's loop is in its own code between two "
        f"batches. If it should not pause that long, see where it is: py-spy dump{pid}",
        figures={"consumer_batches": c.batches})


def _resource_figures(asks: _Asks | None, snap: Snapshot) -> dict[str, Any]:
    return {"gpus_asked": asks.gpus if asks else None, "cpus_asked": asks.cpus if asks else None,
            "cluster_gpus": cluster_gpus(snap), "cluster_cpus": cluster_cpus(snap)}


def _beyond_nodes(asks: _Asks, snap: Snapshot, head: str, label: str, kind: str, key: str
                  ) -> _Why | None:
    """What ``asks`` needs that no node of the cluster has: GPUs, CPUs, custom resources."""
    node_g, node_c, total_g = _node_max(snap, "num_gpus"), _node_max(snap, "num_cpus"), cluster_gpus(snap)
    target, figures = asks.target, _resource_figures(asks, snap)
    if asks.gpus > 0 and node_g is not None and node_g < asks.gpus:
        what = (f"{head}: each asks {asks.words()} and no node has {fmt_plain(asks.gpus)} GPU(s) "
                f"(the cluster has {fmt_plain(total_g)} in all)")
        if not total_g:
            fix = (f"the cluster has no GPU: add GPU nodes (or let the autoscaler add them), or run "
                   f"{target} on CPU: " + call(target, "num_gpus=0")
                   + f"  # now num_gpus={fmt_plain(asks.gpus)}")
        else:
            fix = (call(target, f"num_gpus={fmt_plain(node_g)}")
                   + f"  # now {fmt_plain(asks.gpus)}: no node has more than {fmt_plain(node_g)}; "
                   f"or add nodes with {fmt_plain(asks.gpus)} GPUs")
        return _Why(kind, "critical", f"{label} waits for GPUs the cluster lacks", what, fix,
                    key, figures)
    if node_c is not None and asks.cpus > node_c:
        what = (f"{head}: each asks {asks.words()} and no node has {fmt_plain(asks.cpus)} CPUs "
                f"(the largest has {fmt_plain(node_c)})")
        fix = (call(target, f"num_cpus={fmt_plain(node_c)}")
               + f"  # now {fmt_plain(asks.cpus)}: no node has more; or add larger nodes")
        return _Why(kind, "critical", f"{label} waits for CPUs no node has", what, fix, key, figures)
    if asks.resources:
        what = (f"{head}: each asks {asks.words()}; the custom resources must be offered by some "
                "node (`ray status` lists them)")
        fix = (f"start nodes with resources={asks.resources} (ray start --resources=...), or drop "
               f"them from {target}'s ray_remote_args")
        return _Why(kind, "critical", f"{label} waits for resources", what, fix, key, figures)
    return None


def _pending_actors(win: Window, d: DatasetStats, snap: Snapshot, o: OperatorStats,
                    stall_s: float) -> _Why:
    ds_id = d.dataset_id
    key, label = op_key(o), win.label(ds_id, op_key(o))
    asks = _asks(win, ds_id, key)
    pending = o.actors.pending if o.actors is not None else None
    head = f"{label}: {pending} actor{'s' if pending != 1 else ''} pending and none running"
    if asks is None:
        return _Why("actors-pending", "critical", f"{label} cannot start its actors",
                    head + " (the resources they ask for need raytop's probe: the plan)",
                    f"see what {label}'s actors wait for: `ray status` (pending demands) or the "
                    "dashboard's Actors tab; lower their num_gpus / num_cpus, or add nodes",
                    key, _resource_figures(None, snap))
    beyond = _beyond_nodes(asks, snap, head, label, "actors-pending", key)
    if beyond is not None:
        return beyond
    free_c, spare_g = free_cpus(snap), spare_gpus(snap)
    holders = [f"{win.label(ds_id, op_key(x))} ({fmt_plain(x.usage.cpu or 0)} CPUs"
               + (f", {fmt_plain(x.usage.gpu)} GPUs" if x.usage.gpu else "") + ")"
               for x in d.operators if x is not o and x.usage is not None
               and ((x.usage.cpu or 0) > 0 or (x.usage.gpu or 0) > 0)]
    room = []
    if free_c is not None:
        room.append(f"{fmt_plain(round(free_c, 2))} CPUs")
    if asks.gpus > 0 and spare_g is not None:
        room.append(f"{fmt_plain(round(spare_g, 2))} GPUs")
    fits = _node_max(snap, "num_cpus") is not None and (
        asks.gpus <= 0 or _node_max(snap, "num_gpus") is not None)
    what = (f"{head}: each asks {asks.words()}" + (", which a node has" if fits else "")
            + (f"; {' and '.join(room)} free" if room else "; the cluster's free resources are unknown")
            + (f"; held by {', '.join(holders)}" if holders else ""))
    fix = ("free what its actors need: a lower concurrency (or num_cpus/num_gpus) on the operators "
           "that hold it, or more nodes; `ray status` shows the pending demand. If its __init__ "
           f"loads a model for longer than {fmt_plain(stall_s)} s, this is start-up: raise --stall-after")
    figures = {**_resource_figures(asks, snap), "free_cpus": free_c, "spare_gpus": spare_g}
    return _Why("actors-pending", "critical", f"{label} cannot start its actors", what, fix,
                key, figures)


def _unplaceable(win: Window, d: DatasetStats, snap: Snapshot, ops: list[OperatorStats]
                 ) -> _Why | None:
    """An operator with work waiting whose tasks ask for more than any node has: Ray Data holds
    them back (or Ray leaves them pending) for good."""
    for o in ops:
        if not (o.queued_blocks or o.tasks_running) or (o.actors is not None and o.actors.running):
            continue  # nothing waits for it, or its running actors show it can be placed
        key = op_key(o)
        asks = _asks(win, d.dataset_id, key)
        if asks is None:
            continue
        label = win.label(d.dataset_id, key)
        head = f"{label}: {o.queued_blocks or 0} blocks queued, no task of it can be placed"
        found = _beyond_nodes(asks, snap, head, label, "resources-missing", key)
        if found is not None:
            return found
    return None


_UDF_CLASSES = ("MapBatches", "MapRows", "Map", "FlatMap", "Filter")


def _smaller_blocks(win: Window, ds_id: str, key: str) -> str:
    """How to make the operator's unit of work smaller: its batch, else the read's blocks."""
    udf = next((lo for lo in reversed(win.logical_ops(ds_id, key)) if lo.op_class in _UDF_CLASSES),
               None)
    if udf is not None and udf.op_class == "MapBatches":
        return (call(udf.name, "batch_size=<smaller>")
                + f"  # now {udf.batch_size if udf.batch_size else 'the default'}")
    return "more, smaller blocks at the read: override_num_blocks=<more>"


def _tasks_running(win: Window, ds_id: str, busy: list[OperatorStats], idle_s: float) -> _Why:
    o = max(busy, key=lambda x: x.tasks_running or 0)  # the first of those with the most
    key, label = op_key(o), win.label(ds_id, op_key(o))
    n = o.tasks_running or 0
    what = (f"{label}: {n} task{'s' if n != 1 else ''} running and none finished for "
            f"{fmt_plain(round(idle_s))} s: {'they wait' if n != 1 else 'it waits'} for something, "
            "or a block takes that long")
    fix = (f"see where {label}'s tasks are: raytop stacks --operator '{o.name}' (a UDF blocked on a "
           "lock, a queue, an external service or a call with no timeout: give it a timeout); if one "
           f"block really takes that long, smaller ones: {_smaller_blocks(win, ds_id, key)}")
    return _Why("tasks-running", "critical", f"{label} runs tasks that do not finish", what, fix,
                key, {"stuck_tasks": n})


def _store_spent(snap: Snapshot, ops: list[OperatorStats]) -> bool:
    full = any(n.object_store.used_bytes is not None and n.object_store.capacity_bytes
               and n.object_store.used_bytes >= th.STORE_FULL_FRACTION * n.object_store.capacity_bytes
               for n in snap.nodes)
    spent = any(o.budget is not None and o.budget.object_store_bytes is not None
                and o.budget.object_store_bytes <= th.BUDGET_EXHAUSTED_BYTES for o in ops)
    return full or spent


def _all_held(win: Window, ds_id: str, snap: Snapshot, ops: list[OperatorStats]) -> _Why:
    policies = sorted({b.split(":", 1)[-1] for o in ops for b in o.backpressure})
    what = (f"every running operator is held back ({', '.join(policies)}), so none schedules work")
    if _store_spent(snap, ops):
        what += ": the object store (its Ray Data budget spent, or a node's store full) holds them"
        fix = ("less data in flight: smaller blocks, DataContext.get_current().target_max_block_size "
               "= 64 * 1024**2 (default 128 MiB), or a larger Ray Data share of the store, "
               "DataContext.get_current().override_object_store_memory_limit_fraction = 0.7 "
               "(default 0.5), or a bigger store: ray.init(object_store_memory=...)")
        kind = "backpressure-store"
    else:
        fix = ("raise the limits that hold them: the concurrency caps (concurrency= / "
               "ActorPoolStrategy max_size) of the operators downstream, or Ray Data's resource "
               "limits (DataContext.get_current().execution_options.resource_limits)")
        kind = "backpressure"
    return _Why(kind, "critical", "Every operator is held back", what, fix,
                figures={"policies": policies})


def _nothing(d: DatasetStats) -> _Why:
    pid = f" --pid {d.driver_pid}" if d.driver_pid else " --pid <the driver's pid>"
    return _Why("nothing-scheduled", "critical", "The pipeline schedules nothing",
                "no task runs, no actor is pending and no operator is held back: the executor "
                "schedules nothing",
                f"see where the driver is: py-spy dump{pid} (the streaming executor's thread, "
                "or the code that feeds the dataset); a Ray Data bug is possible: its logs are in "
                "/tmp/ray/session_latest/logs/ray-data.log", figures={})


def _why(win: Window, ds_id: str, d: DatasetStats, snap: Snapshot, stall_s: float,
         idle_s: float) -> _Why:
    ops = _active(d)
    blocked = [o for o in ops if o.actors is not None and (o.actors.pending or 0) >= 1
               and not (o.actors.running or 0)]
    busy = [o for o in ops if (o.tasks_running or 0) >= 1]
    # Tasks may still count as running: Ray pauses a task whose output nobody takes.
    if d.consumer is not None and not blocked and _held_at_output(win, ds_id, d):
        return _consumer(d, d.consumer)
    if blocked:
        return _pending_actors(win, d, snap, blocked[0], stall_s)
    unplaceable = _unplaceable(win, d, snap, ops)
    if unplaceable is not None:
        return unplaceable
    if busy:
        return _tasks_running(win, ds_id, busy, idle_s)
    if ops and all(o.backpressure for o in ops):
        return _all_held(win, ds_id, snap, ops)
    return _nothing(d)


def _stalled_one(win: Window, d: DatasetStats, idle_s: float) -> Suggestion:
    snap, ds_id = win.latest, d.dataset_id
    why = _why(win, ds_id, d, snap, win.stall_s, idle_s)
    ops = _active(d)
    labels = [_op_words(o, win.label(ds_id, op_key(o))) for o in ops]
    done = [win.label(ds_id, op_key(o)) for o in d.operators
            if not is_source_op(o) and o.state == "FINISHED"]
    evidence = (f"dataset {ds_id} RUNNING with no progress (no rows, blocks or finished tasks out "
                f"of any operator) for {fmt_plain(round(idle_s))} s (stall threshold "
                f"{fmt_plain(win.stall_s)} s, --stall-after); {fmt_count(d.rows_out)} rows out so far. "
                f"{why.what}. Still at work: {'; '.join(labels) or 'none'}"
                + (f"; finished: {', '.join(done)}" if done else ""))
    actors = [o.actors for o in ops if o.actors is not None]
    figures = {"waiting_on": why.kind, "stalled_s": round(idle_s, 1), "stall_after_s": win.stall_s,
               "rows_out": d.rows_out,
               "actors_pending": sum_known(a.pending for a in actors) if actors else None,
               "tasks_running": sum_known(o.tasks_running for o in ops) if ops else None,
               "backpressured_ops": sum(1 for o in ops if o.backpressure), "active_ops": len(ops),
               **(why.figures or {})}
    label = win.label(ds_id, why.key) if why.key else None
    return suggest("stalled", why.severity, why.title, evidence, why.fix, operator=label,
                   op_id=why.key, dataset_id=ds_id, window=win, share=1.0, figures=figures)


def check_stalled(win: Window) -> list[Suggestion]:
    out = []
    snap = win.latest
    for d in snap.datasets:
        p = win.progress.get(d.dataset_id)
        if d.state != "RUNNING" or p is None or not p.known or not _watched(snap, d):
            continue
        idle_s = snap.t - p.since
        if idle_s >= win.stall_s:
            out.append(_stalled_one(win, d, idle_s))
    return out

