"""A failed dataset is the strongest evidence there is: its error says what went wrong, and the
finding it gives leads the advice. The error text (``DatasetStats.error``, the probe's root-cause
line) is read for the usual ways a batch-inference job dies:

- CUDA out of memory -> ``gpu-memory-risk`` (critical) with the batch size that would have fit
  (``cuda_oom.fitting_batch``);
- Ray's out-of-memory killer -> ``heap-pressure`` (critical) on the operator, with ``memory=``;
- object store full -> ``object-store-pressure``; spill disk full -> ``spilling`` (critical);
- an actor that died -> ``actor-restarts`` (critical);
- anything else -> ``dataset-failed`` (critical): the error and the operator it came from;
- but a dataset stopped by Ctrl-C (``KeyboardInterrupt``: the user, or `raytop tune` cutting a
  trial) did not fail: no finding.

The operator is the one whose tasks failed, else the one the error names, else the model (GPU)
operator for a GPU error. Failure findings are facts: the Advisor raises them at once
(``figures["failure"]``) and ranks them before every other finding of their severity.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ...format import fmt_bytes, fmt_share
from ...model import DatasetStats, LogicalOp, Suggestion, op_key
from .. import thresholds as th
from ..window import Window, is_source_op, ops_by_key
from .common import call, first_logical, model_logical, op_num_gpus, suggest
from .cuda_oom import fitting_batch, parse_cuda_oom

# kind -> what in the error text tells it; checked in this order (a CUDA OOM is also an
# "OutOfMemoryError", so it goes before Ray's).
_KINDS = (
    ("cuda-oom", re.compile(r"CUDA out of memory|CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation"
                            r"|CUBLAS_STATUS_ALLOC_FAILED|torch\.(cuda\.)?OutOfMemoryError"
                            r"|RESOURCE_EXHAUSTED: Out of memory", re.I)),
    ("ray-oom", re.compile(r"ray\.exceptions\.OutOfMemoryError|node running low on memory"
                           r"|memory usage threshold|^OutOfMemoryError: Task was killed", re.I)),
    ("disk-full", re.compile(r"OutOfDiskError|No space left on device|spill(ing|ed)? .*(fail|full)", re.I)),
    ("store-full", re.compile(r"ObjectStoreFullError|object store is full|Failed to put object", re.I)),
    ("interrupted", re.compile(r"^\s*KeyboardInterrupt\b")),
    ("actor-died", re.compile(r"ActorDiedError|ActorUnavailableError|RayActorError"
                              r"|actor died unexpectedly|The actor died", re.I)),
)


_UDF_CLASSES = ("MapBatches", "MapRows", "Map", "FlatMap", "Filter")


def failure_kind(error: str) -> str:
    return next((kind for kind, pattern in _KINDS if pattern.search(error or "")), "other")


@dataclass(frozen=True)
class Failure:
    dataset_id: str
    error: str  # the root-cause line; "" when the source had none (probe-free)
    kind: str
    op_key: str | None  # the operator it came from, when it can be told
    label: str | None


def _failed_op(win: Window, d: DatasetStats, kind: str) -> str | None:
    ops = [o for o in d.operators if not is_source_op(o)]
    failed = [o for o in ops if (o.tasks_failed or 0) > 0]
    if failed:
        return op_key(max(failed, key=lambda o: o.tasks_failed or 0))
    named = [o for o in ops if o.name and o.name in (d.error or "")]
    if named:
        return op_key(named[-1])
    if kind == "cuda-oom":
        gpu = [op_key(o) for o in ops if op_num_gpus(model_logical(win, d.dataset_id, op_key(o))) > 0
               or (o.usage is not None and (o.usage.gpu or 0) > 0)]
        return gpu[-1] if gpu else None
    return None


def failures(win: Window) -> list[Failure]:
    out = []
    for ds_id in win.dataset_ids():
        d = win.latest_dataset(ds_id)
        if d is None or d.state != "FAILED":
            continue
        if d.end_time is not None and win.t1 - d.end_time > th.FAILURE_RECENT_S:
            continue  # failed long before (a job of earlier, seen by attach): not news now
        kind = failure_kind(d.error or "")
        if kind == "interrupted":
            continue  # stopped by Ctrl-C: not a failure
        key = _failed_op(win, d, kind)
        out.append(Failure(ds_id, d.error or "", kind, key, win.label(ds_id, key) if key else None))
    return out


def _said(f: Failure) -> str:
    return (f"dataset {f.dataset_id} failed" + (f" in {f.label}" if f.label else "")
            + (f": {f.error}" if f.error else " (the error text needs raytop's probe in the driver)"))


def _failed(win: Window, f: Failure, rule: str, title: str, evidence: str, fix: str,
            figures: dict | None = None) -> Suggestion:
    return suggest(rule, "critical", title, evidence, fix, operator=f.label, op_id=f.op_key,
                   dataset_id=f.dataset_id, window=win,
                   figures={"failure": True, "error": f.error, "kind": f.kind, **(figures or {})})


def _gpu_peak(win: Window) -> float | None:
    fr = [g.mem_used_bytes / g.mem_total_bytes for s in win.snaps for n in s.nodes for g in n.gpus
          if g.mem_used_bytes is not None and g.mem_total_bytes]
    return max(fr) if fr else None


def _cuda_oom(win: Window, f: Failure) -> Suggestion:
    model = model_logical(win, f.dataset_id, f.op_key) if f.op_key else None
    reading = parse_cuda_oom(f.error)
    batch = model.batch_size if model is not None else None
    fit = fitting_batch(batch, reading)
    peak = _gpu_peak(win)
    target = model.name if model is not None else "the model's map_batches call"
    if fit is not None:
        fix = (call(target, f"batch_size={fit.batch_size}") if model is not None else
               f"batch_size={fit.batch_size} on {target}") + f"  # now {batch}: {fit.why}"
    else:
        fix = (call(target, "batch_size=<half of now>") + "  # now Ray's default batch_size"
               if model is not None else f"a smaller batch_size on {target}")
    evidence = _said(f) + (f"; GPU memory peaked at {fmt_share(peak, 1)}" if peak is not None else "")
    return _failed(win, f, "gpu-memory-risk", f"{f.label or 'The model'} ran out of GPU memory",
                   evidence, fix, {"batch_size": batch,
                                   "suggested_batch_size": fit.batch_size if fit else None,
                                   "gpu_mem_peak_fraction": peak})


def _heaviest_per_worker(win: Window, ds_id: str, key: str | None) -> float | None:
    per = []
    for _, o in win.op_samples(ds_id, key) if key else ():
        workers = (o.actors.running if o.actors is not None and o.actors.running else o.tasks_running)
        if o.heap_bytes and workers:
            per.append(o.heap_bytes / workers)
    return max(per) if per else None


def _udf_logical(win: Window, ds_id: str, key: str) -> LogicalOp | None:
    """The user's own map in a physical operator (``MapBatches(expand)`` of
    ``MapBatches(expand)->Write``): where the memory goes, and what a fix addresses."""
    ops = win.logical_ops(ds_id, key)
    return next((o for o in reversed(ops) if o.op_class in _UDF_CLASSES), ops[-1] if ops else None)


def _ray_oom(win: Window, f: Failure) -> Suggestion:
    """Heap seen per worker is a lower bound (the killed task was still growing): the request
    proposed is twice it; a smaller batch cuts what each task holds."""
    per = _heaviest_per_worker(win, f.dataset_id, f.op_key)
    udf = _udf_logical(win, f.dataset_id, f.op_key) if f.op_key else None
    target = udf.name if udf is not None else (
        first_logical(win, f.dataset_id, f.op_key) if f.op_key else "the heaviest map")
    request = f"memory={int(per * 2)}" if per else "memory=<what one worker needs at its peak, in bytes>"
    fix = call(target, request) + "  # " + (
        f"2x the {fmt_bytes(per)} per worker seen before the kill; " if per else "") + (
        "Ray then places only as many workers as the node's memory holds")
    if udf is not None and udf.batch_size:
        fix += f"; or batch_size={max(1, udf.batch_size // 2)} (now {udf.batch_size}), or a lower concurrency"
    else:
        fix += "; or a smaller batch_size or a lower concurrency on it"
    return _failed(win, f, "heap-pressure", "Ray's out-of-memory killer stopped the job",
                   _said(f), fix, {"peak_per_worker": per})


def _store_full(win: Window, f: Failure) -> Suggestion:
    fix = ("a bigger object store, ray.init(object_store_memory=...), or less data in flight: "
           "DataContext.get_current().target_max_block_size = 64 * 1024**2 and a lower concurrency "
           "on the operator that produces the most; avoid ds.materialize() of large data")
    return _failed(win, f, "object-store-pressure", "The object store filled up", _said(f), fix)


def _disk_full(win: Window, f: Failure) -> Suggestion:
    fix = ("spill to a disk with room: ray.init(_system_config={\"object_spilling_config\": "
           "json.dumps({\"type\": \"filesystem\", \"params\": {\"directory_path\": \"/big/disk\"}})}); "
           "and keep less in flight: DataContext.get_current()"
           ".override_object_store_memory_limit_fraction = 0.3")
    return _failed(win, f, "spilling", "Spilling ran out of disk", _said(f), fix)


def _actor_died(win: Window, f: Failure) -> Suggestion:
    fix = ("find why the actor dies: its worker log (`ray logs worker-<pid>.err`, or "
           "the dashboard's Actors tab). Usual causes: an exception in __init__, a crash in native "
           "code, the OOM killer (then memory= on it)")
    return _failed(win, f, "actor-restarts", f"{f.label or 'An actor'} died", _said(f), fix)


def _other(win: Window, f: Failure) -> Suggestion:
    fix = ("fix the error in that operator's code (the evidence names both)" if f.label
           else "fix the error above") + (
        "; Ray Data retries a failing task only on the errors in DataContext.retried_map_errors")
    return _failed(win, f, "dataset-failed", f"Dataset failed{' in ' + f.label if f.label else ''}",
                   _said(f), fix)


_FINDING: dict[str, Callable[[Window, Failure], Suggestion]] = {
    "cuda-oom": _cuda_oom, "ray-oom": _ray_oom, "store-full": _store_full,
    "disk-full": _disk_full, "actor-died": _actor_died, "other": _other,
}


def check_failures(win: Window) -> list[Suggestion]:
    return [_FINDING[f.kind](win, f) for f in failures(win)]


def _restarting_samples(win: Window, ds_id: str, key: str) -> list[int]:
    """Actors restarting in each sample of the pool (all samples, finished or not: a pool that
    keeps dying may well end the dataset)."""
    out = []
    for s in win.snaps:
        d = s.dataset(ds_id)
        restarting = win.summary(d, _restarting) if d is not None else {}
        if key in restarting:
            out.append(restarting[key])
    return out


def _restarting(d: DatasetStats) -> dict[str, int]:
    """op key -> actors restarting, for the pools that say (the first operator of a key)."""
    return {k: o.actors.restarting for k, o in ops_by_key(d).items()
            if o.actors is not None and o.actors.restarting is not None}


def check_actor_restarts(win: Window) -> list[Suggestion]:
    """An actor pool that keeps losing actors: restarting in ``ACTOR_RESTART_FRACTION`` of the
    samples, at least ``ACTOR_RESTART_MIN_SAMPLES`` of them. Ray restarts them and retries their
    tasks, so the job goes on, slower, and the cause stays hidden."""
    out = []
    failed = {(f.dataset_id, f.op_key) for f in failures(win) if f.kind == "actor-died"}
    for ds_id in win.dataset_ids():
        for key in win.actor_ops(ds_id):
            counts = _restarting_samples(win, ds_id, key)
            hit = [c for c in counts if c >= 1]
            if (ds_id, key) in failed or len(counts) < th.MIN_SAMPLES or len(hit) < max(
                    th.ACTOR_RESTART_MIN_SAMPLES, th.ACTOR_RESTART_FRACTION * len(counts)):
                continue
            label = win.label(ds_id, key)
            evidence = (f"{label}: actors restarting in {len(hit)}/{len(counts)} samples "
                        f"{win.describe()} (up to {max(hit)} at once): its actor processes keep dying "
                        "and Ray restarts them and retries their tasks")
            fix = (f"find why {label}'s actors die: their worker logs (`ray logs worker-<pid>.err`, "
                   "or the dashboard's Actors tab). Usual causes: a crash in native code, os._exit "
                   "or sys.exit in the UDF, the OOM killer (then memory= on it)")
            out.append(suggest("actor-restarts", "warning", f"{label} keeps losing actors", evidence,
                               fix, operator=label, op_id=key, dataset_id=ds_id, window=win,
                               share=len(hit) / len(counts),
                               figures={"restarting_samples": len(hit), "samples": len(counts)}))
    return out
