"""Datasets seen by Ray Data's stats actor, for jobs started without the probe.

``datasets_stats_actor`` (namespace ``_dataset_stats_actor``) is looked up, never created.
``get_datasets()`` gives dataset/operator state, Ray's row estimates, output block counts
(``progress``) and queued input blocks; the executor refreshes it every 5 s. Where ``ray[default]``
exports the ``ray_data_*`` Prometheus series (labels ``dataset`` and ``operator`` = the stats
actor's operator key ``<name>_<index>``), they add queues in bytes, tasks, actors, rows, usage and
budget; they lag the actor by a few seconds and are not used for finished operators. Whether an
operator runs on an actor pool is in neither: it is inferred from its actor counts (once seen
with actors, it stays "actor"; with tasks and never actors, "task").
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from raytop.model import ActorCounts, DatasetStats, Event, OperatorStats, Resources
from raytop.sources.base import Part, SourceAbsent
from raytop.sources.metrics import MetricsCache, node_endpoint, shared_cache

STATS_ACTOR_NAME = "datasets_stats_actor"
STATS_ACTOR_NAMESPACE = "_dataset_stats_actor"
ABSENT_REASON = "no Ray Data dataset has run on this cluster yet"

_OP_INDEX = re.compile(r"_(\d+)$")
_TERMINAL = {"FINISHED": "dataset_finished", "FAILED": "dataset_failed"}

# OperatorStats field -> ray_data_* series.
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

OpSeries = Dict[Tuple[str, str], Dict[str, float]]  # (dataset, operator key) -> series -> value


def index_ray_data_series(metrics_list) -> OpSeries:
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


def _i(v: Optional[float]) -> Optional[int]:
    return int(v) if v is not None else None


def _op_order(key: str) -> int:
    m = _OP_INDEX.search(key)
    return int(m.group(1)) if m else 1 << 30


def _resources(series: Mapping[str, float], names: Tuple[str, ...]) -> Optional[Resources]:
    vals = [series.get(n) for n in names]
    if all(v is None for v in vals):
        return None
    cpu, gpu, store, mem = vals
    return Resources(cpu=cpu, gpu=gpu, object_store_bytes=_i(store), memory_bytes=_i(mem))


class StatsSource:
    name = "stats"

    def __init__(self, *, timeout: float = 0.5, metrics: Optional[MetricsCache] = None,
                 nodes_max_age: float = 5.0) -> None:
        self._timeout = timeout
        self._metrics = metrics if metrics is not None else shared_cache()
        self._actor = None
        self._pending = None  # an unanswered get_datasets() call
        self._nodes: List[Mapping] = []
        self._nodes_at = -math.inf
        self._nodes_max_age = nodes_max_age
        self._actor_ops: set = set()  # (dataset, op key) seen with actors
        self._task_ops: set = set()
        self._states: Optional[Dict[str, Optional[str]]] = None  # None until the first read

    def _stats_actor(self) -> Any:
        import ray

        if self._actor is None:
            try:
                self._actor = ray.get_actor(STATS_ACTOR_NAME, namespace=STATS_ACTOR_NAMESPACE)
            except ValueError:
                raise SourceAbsent(ABSENT_REASON) from None
        return self._actor

    def _node_metrics(self) -> list:
        import ray

        now = time.monotonic()
        if now - self._nodes_at > self._nodes_max_age:
            self._nodes, self._nodes_at = ray.nodes(), now
        return [self._metrics.get(*ep) for ep in map(node_endpoint, self._nodes) if ep]

    def fetch(self) -> Dict[str, Any]:
        """The stats actor's raw ``get_datasets()`` answer. On timeout (e.g. the actor is still
        starting) the call stays pending and the next fetch waits for it instead of piling up
        another one."""
        import ray

        actor = self._stats_actor()
        if self._pending is None:
            self._pending = actor.get_datasets.remote()
        try:
            answer = ray.get(self._pending, timeout=self._timeout)
        except ray.exceptions.GetTimeoutError:
            raise
        except Exception:
            self._actor = None  # the actor died or moved: look it up again next time
            self._pending = None
            raise
        self._pending = None
        return answer

    def read(self) -> Part:
        raw = self.fetch()
        series = index_ray_data_series(self._node_metrics())
        datasets = tuple(self._dataset(tag, d, series) for tag, d in raw.items()
                         if isinstance(d, Mapping))
        return Part(datasets=datasets, events=self._events(datasets))

    def _operator(self, tag: str, key: str, o: Mapping, series: OpSeries) -> OperatorStats:
        # The series lag the stats actor by up to ~10 s (two export periods): once Ray says an
        # operator finished, they describe it as it was before, so they are left out.
        s = {} if o.get("state") in _TERMINAL else series.get((tag, key), {})
        fields: Dict[str, Any] = {f: _i(s.get(n)) for f, n in _INT_SERIES.items()}
        fields.update({f: s.get(n) for f, n in _FLOAT_SERIES.items()})
        if fields["input_queue_blocks"] is None and o.get("queued_blocks") is not None:
            # Ray's count of queued input blocks (external and internal queues together).
            fields["input_queue_blocks"] = int(o["queued_blocks"])
        if fields["blocks_out"] is None and o.get("progress") is not None:
            fields["blocks_out"] = int(o["progress"])  # output bundles produced so far
        counts = {f: _i(s.get(n)) for f, n in _ACTOR_SERIES.items()}
        if any(counts[k] for k in ("running", "pending", "restarting")):
            self._actor_ops.add((tag, key))
        elif fields["tasks_finished"] or fields["tasks_running"]:
            self._task_ops.add((tag, key))
        is_actor = (tag, key) in self._actor_ops
        compute = "actor" if is_actor else "task" if (tag, key) in self._task_ops else "other"
        rows_total = o.get("total_rows")
        return OperatorStats(
            name=str(o.get("name") or _OP_INDEX.sub("", key)),
            op_id=key,
            state=o.get("state"),
            compute=compute,
            rows_total=int(rows_total) if rows_total is not None else None,
            actors=ActorCounts(**counts) if is_actor else None,
            usage=_resources(s, _USAGE_SERIES),
            budget=_resources(s, _BUDGET_SERIES),
            **fields,
        )

    def _dataset(self, tag: str, d: Mapping, series: OpSeries) -> DatasetStats:
        ops_raw = d.get("operators") or {}
        ops = tuple(self._operator(tag, k, o, series)
                    for k, o in sorted(ops_raw.items(), key=lambda kv: _op_order(kv[0]))
                    if isinstance(o, Mapping))
        total_rows = d.get("total_rows")
        return DatasetStats(
            dataset_id=tag,
            state=d.get("state"),
            rows_out=ops[-1].rows_out if ops else None,
            operators=ops,
            job_id=d.get("job_id"),
            start_time=d.get("start_time"),
            end_time=d.get("end_time"),
            rows_total=int(total_rows) if total_rows is not None else None,
            source="stats",
        )

    def _events(self, datasets: Tuple[DatasetStats, ...]) -> Tuple[Event, ...]:
        """Datasets that started/finished/failed since the last read (none on the first read:
        what happened before raytop looked is not reported as news)."""
        now = time.time()
        states = {d.dataset_id: d.state for d in datasets}
        events: List[Event] = []
        if self._states is not None:
            for d in datasets:
                prev = self._states.get(d.dataset_id, "<new>")
                if prev == "<new>":
                    events.append(Event(t=d.start_time or now, kind="dataset_started",
                                        message=f"dataset {d.dataset_id} started",
                                        dataset_id=d.dataset_id))
                if d.state in _TERMINAL and prev != d.state:
                    events.append(Event(t=d.end_time or now, kind=_TERMINAL[d.state],
                                        message=f"dataset {d.dataset_id} {d.state.lower()}",
                                        dataset_id=d.dataset_id))
        self._states = states
        return tuple(events)

    def close(self) -> None:
        self._actor = self._pending = None
