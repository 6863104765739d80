"""The ``ray_data_*`` Prometheus series Ray Data exports per (dataset, operator), as operator
figures. Labels: ``dataset`` (the dataset tag) and ``operator`` (``<name>_<index>``). Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from raytop.model import ActorCounts, ConsumerStats, Resources
from raytop.tails import OperatorTails, from_cumulative

# OperatorStats field -> series.
_INT_SERIES = {
    "input_queue_blocks": "ray_data_num_external_inqueue_blocks",
    "input_queue_bytes": "ray_data_num_external_inqueue_bytes",
    "output_queue_blocks": "ray_data_num_external_outqueue_blocks",
    "output_queue_bytes": "ray_data_num_external_outqueue_bytes",
    "internal_input_queue_blocks": "ray_data_obj_store_mem_internal_inqueue_blocks",
    "internal_input_queue_bytes": "ray_data_obj_store_mem_internal_inqueue",
    "internal_output_queue_blocks": "ray_data_obj_store_mem_internal_outqueue_blocks",
    "internal_output_queue_bytes": "ray_data_obj_store_mem_internal_outqueue",
    "tasks_running": "ray_data_num_tasks_running",
    "tasks_finished": "ray_data_num_tasks_finished",
    "tasks_failed": "ray_data_num_tasks_failed",
    "rows_out": "ray_data_row_outputs_taken",
    "rows_in": "ray_data_num_row_inputs_received",
    "bytes_out": "ray_data_bytes_outputs_taken",
    "blocks_out": "ray_data_num_outputs_taken",
    "obj_store_mem_bytes": "ray_data_obj_store_mem_used",
}
_FLOAT_SERIES = {
    "avg_task_s": "ray_data_average_total_task_completion_time_s",
    "avg_block_bytes": "ray_data_average_bytes_per_output",
    "submission_backpressure_s": "ray_data_task_submission_backpressure_time",
    "output_backpressure_s": "ray_data_task_output_backpressure_time",
}
_ACTOR_SERIES = {
    "running": "ray_data_num_alive_actors",
    "pending": "ray_data_num_pending_actors",
    "idle": "ray_data_num_idle_actors",
    "restarting": "ray_data_num_restarting_actors",
}
_USAGE_SERIES = ("ray_data_cpu_usage_cores", "ray_data_gpu_usage_cores",
                 "ray_data_obj_store_mem_used", "ray_data_memory_usage_bytes")
_BUDGET_SERIES = ("ray_data_cpu_budget", "ray_data_gpu_budget",
                  "ray_data_object_store_memory_budget", "ray_data_memory_budget")
# Figures that describe "now" rather than accumulate: once an operator finished, Ray's last
# export (up to a period old) may still show it busy, so they are known to be 0.
_INSTANT_FIELDS = ("input_queue_blocks", "input_queue_bytes", "output_queue_blocks",
                   "output_queue_bytes", "internal_input_queue_blocks",
                   "internal_input_queue_bytes", "internal_output_queue_blocks",
                   "internal_output_queue_bytes", "tasks_running")

# Exported by the driver itself (its resource allocator callback), on its own schedule; every
# other series comes from Ray Data's stats actor, all refreshed in one export.
DRIVER_SERIES = frozenset(_BUDGET_SERIES)

SERIES_NAMES: tuple[str, ...] = tuple(sorted(
    {*_INT_SERIES.values(), *_FLOAT_SERIES.values(), *_ACTOR_SERIES.values(),
     *_USAGE_SERIES, *_BUDGET_SERIES}))

# What the stats actor's ``update_dataset`` exports besides the figures: the states, and Ray's
# estimates. With them the datasets can be listed without calling the actor (no driver needed).
_STATE_NAMES = {0: "UNKNOWN", 1: "RUNNING", 2: "FINISHED", 3: "FAILED", 4: "PENDING"}
DATASET_STATE = "ray_data_dataset_state"
_OP_FIELDS = {"ray_data_operator_state": "state", "ray_data_operator_queued_blocks": "queued_blocks",
              "ray_data_operator_estimated_total_rows": "total_rows"}
STATE_SERIES: tuple[str, ...] = (DATASET_STATE, *_OP_FIELDS)

OpSeries = dict[tuple[str, str], dict[str, float]]  # (dataset, operator key) -> series -> value


def index_ray_data_series(metrics_list: Iterable[Mapping | None]) -> OpSeries:
    """Parsed metrics of every node -> values of ``ray_data_*`` series per (dataset, operator);
    duplicates across nodes/workers keep the largest; non-finite values are dropped."""
    out: OpSeries = {}
    for metrics in metrics_list:
        if not metrics:
            continue
        for name, samples in metrics.items():
            if not name.startswith("ray_data_"):
                continue
            for labels, v in samples:
                ds, op = labels.get("dataset"), labels.get("operator")
                if ds is None or op is None or not math.isfinite(v):
                    continue
                per = out.setdefault((ds, op), {})
                if name not in per or v > per[name]:
                    per[name] = v
    return out


# OperatorTails field -> the histogram Ray exports (its ``_bucket`` series, label ``le``).
_HISTOGRAMS = {"task_s": "ray_data_task_completion_time", "block_bytes": "ray_data_block_size_bytes",
               "block_rows": "ray_data_block_size_rows"}  # in OperatorTails' order
HISTOGRAM_SERIES: tuple[str, ...] = tuple(sorted(n + "_bucket" for n in _HISTOGRAMS.values()))
OpBuckets = dict[tuple[str, str], dict[str, dict[float, float]]]  # (dataset, op) -> series -> le -> n


def index_histograms(metrics_list: Iterable[Mapping | None]) -> OpBuckets:
    """The ``_bucket`` series of Ray Data's histograms per (dataset, operator): ``le`` ->
    cumulative count; the same bucket seen twice (several nodes or workers) keeps the largest."""
    out: OpBuckets = {}
    for metrics in metrics_list:
        for name in HISTOGRAM_SERIES:
            for labels, v in (metrics or {}).get(name, ()):
                ds, op, le = labels.get("dataset"), labels.get("operator"), labels.get("le")
                if ds is None or op is None or le is None or not math.isfinite(v):
                    continue
                try:
                    bound = float(le)  # "+Inf" reads as inf
                except ValueError:
                    continue
                buckets = out.setdefault((ds, op), {}).setdefault(name, {})
                buckets[bound] = max(v, buckets.get(bound, v))
    return out


def tails_figures(buckets: Mapping[str, Mapping[float, float]] | None) -> OperatorTails | None:
    """An operator's percentiles from its exported histograms; None when Ray exports none for
    it. Running tasks are not exported: ``slow_tasks`` stays None."""
    if not buckets:
        return None
    task_s, block_bytes, block_rows = (from_cumulative(buckets.get(n + "_bucket", {}).items())
                                       for n in _HISTOGRAMS.values())
    return OperatorTails(task_s=task_s, block_bytes=block_bytes, block_rows=block_rows)


def _i(v: float | None) -> int | None:
    return int(v) if v is not None else None


def _resources(series: Mapping[str, float], names: tuple[str, ...]) -> Resources | None:
    vals = [series.get(n) for n in names]
    if all(v is None for v in vals):
        return None
    cpu, gpu, store, mem = vals
    return Resources(cpu=cpu, gpu=gpu, object_store_bytes=_i(store), memory_bytes=_i(mem))


def operator_figures(series: Mapping[str, float], *, finished: bool) -> dict[str, Any]:
    """OperatorStats keyword arguments from one operator's series (absent series -> None)."""
    figures: dict[str, Any] = {f: _i(series.get(n)) for f, n in _INT_SERIES.items()}
    figures.update({f: series.get(n) for f, n in _FLOAT_SERIES.items()})
    counts = {f: _i(series.get(n)) for f, n in _ACTOR_SERIES.items()}
    figures["actors"] = None if all(v is None for v in counts.values()) else ActorCounts(**counts)
    figures["usage"] = _resources(series, _USAGE_SERIES)
    figures["budget"] = _resources(series, _BUDGET_SERIES)
    if finished and series:
        figures.update({f: 0 for f in _INSTANT_FIELDS})
        if figures["actors"] is not None:
            figures["actors"] = ActorCounts(running=0, pending=0, idle=0, restarting=0)
        figures["usage"] = None
    return figures


def _state(v: float) -> str:
    return _STATE_NAMES.get(int(v), "UNKNOWN") if math.isfinite(v) else "UNKNOWN"


def _start_time(labels: Mapping[str, str]) -> float | None:
    text = labels.get("start_time") or ""
    return float(text) if text.isdigit() and int(text) > 0 else None


def datasets_from_series(metrics_list: Iterable[Mapping | None]) -> dict[str, dict[str, Any]]:
    """The stats actor's ``get_datasets()`` answer rebuilt from the series it exports:
    ``{tag: {job_id, state, start_time, end_time, operators: {key: {state, queued_blocks,
    total_rows}}}}``. ``end_time`` is not exported (None)."""
    out: dict[str, dict[str, Any]] = {}

    def dataset(tag: str) -> dict[str, Any]:
        return out.setdefault(tag, {"job_id": None, "state": None, "start_time": None,
                                    "end_time": None, "operators": {}})

    for metrics in metrics_list:
        if not metrics:
            continue
        for labels, v in metrics.get(DATASET_STATE, ()):
            if labels.get("dataset"):
                d = dataset(labels["dataset"])
                d.update(state=_state(v), start_time=_start_time(labels),
                         job_id=None if labels.get("job_id") in (None, "None") else labels["job_id"])
        for name, key in _OP_FIELDS.items():
            for labels, v in metrics.get(name, ()):
                tag, op = labels.get("dataset"), labels.get("operator")
                if not tag or not op:
                    continue
                op_fields = dataset(tag)["operators"].setdefault(op, {})
                op_fields[key] = _state(v) if key == "state" else (
                    int(v) if math.isfinite(v) else None)
    return out


# ConsumerStats field -> series. Labels ``dataset`` and ``split`` (no operator): the iterator's
# figures, exported by the stats actor as the iterator reports them (after its first batch,
# every 5 s and at the end of an iteration).
_ITER_SERIES = {
    "blocked_s": "ray_data_iter_total_blocked_seconds",
    "user_s": "ray_data_iter_user_seconds",
    "first_batch_s": "ray_data_iter_time_to_first_batch_seconds",
    "total_s": "ray_data_iter_total_seconds",
    "batches": "ray_data_iter_batches_total",
    "rows": "ray_data_iter_rows_total",
}
ITER_SERIES_NAMES: tuple[str, ...] = tuple(sorted(_ITER_SERIES.values()))


def index_iteration_series(metrics_list: Iterable[Mapping | None]) -> dict[str, dict[str, float]]:
    """dataset -> iteration series -> value, summed over the splits (``streaming_split``
    consumers) of a dataset; the same series seen on several nodes keeps the largest."""
    per_split: dict[tuple[str, str], dict[str, float]] = {}
    for metrics in metrics_list:
        for name in ITER_SERIES_NAMES:
            for labels, v in (metrics or {}).get(name, ()):
                ds = labels.get("dataset")
                if ds is None or not math.isfinite(v):
                    continue
                one = per_split.setdefault((ds, labels.get("split") or ""), {})
                one[name] = max(v, one.get(name, v))
    out: dict[str, dict[str, float]] = {}
    for (ds, _), values in per_split.items():
        total = out.setdefault(ds, {})
        for name, v in values.items():
            total[name] = total.get(name, 0.0) + v
    return out


def consumer_figures(series: Mapping[str, float]) -> ConsumerStats | None:
    """ConsumerStats from one dataset's iteration series; None when it has none."""
    if not series:
        return None
    vals = {f: series.get(n) for f, n in _ITER_SERIES.items()}
    return ConsumerStats(blocked_s=vals["blocked_s"], user_s=vals["user_s"],
                         first_batch_s=vals["first_batch_s"], total_s=vals["total_s"],
                         batches=_i(vals["batches"]), rows=_i(vals["rows"]))
