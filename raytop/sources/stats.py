"""Datasets seen by Ray Data's stats actor, for jobs started without the probe.

``datasets_stats_actor`` (namespace ``_dataset_stats_actor``) is looked up, never created.
``get_datasets()`` gives dataset/operator state, Ray's row estimates, output block counts
(``progress``) and queued input blocks; the executor refreshes it every 5 s. Where ``ray[default]``
exports the ``ray_data_*`` Prometheus series (labels ``dataset`` and ``operator`` = the stats
actor's operator key ``<name>_<index>``), they add rows, bytes, queues in bytes, tasks, actors,
usage and budget. Those series refresh in steps (~10 s): rates come from ``refresh.py``.

Reads never wait for the actor: the last answer is served while the next call is in flight, so a
busy 32-core node cannot make the source "slow"; an answer older than ``MAX_ANSWER_AGE_S`` is.

Without a driver (a ``ClusterLink``: raytop's usual way), the actor cannot be called; the datasets
come from the series it exports (``ray_data_dataset_state``, ``ray_data_operator_state``, Ray's
estimates), read from the metrics endpoint of the node it runs on (found in the GCS) and of the
nodes that run drivers (the budgets). Those refresh every ~10 s instead of 5 s and carry no end
time. When that endpoint does not answer (no ``ray[default]``) the source raises ``NeedsDriver``
and the session reads the actor through its driver bridge instead.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from raytop import dataset_rows
from raytop.model import DatasetStats, Event, OperatorStats, PhysicalOp, Plan, clean_text
from raytop.sources.base import NeedsDriver, Part, SourceAbsent
from raytop.sources.metrics import MetricsCache, node_endpoint, shared_cache
from raytop.sources.ray_data_series import (
    DRIVER_SERIES,
    HISTOGRAM_SERIES,
    ITER_SERIES_NAMES,
    SERIES_NAMES,
    STATE_SERIES,
    OpBuckets,
    OpSeries,
    consumer_figures,
    datasets_from_series,
    index_histograms,
    index_iteration_series,
    index_ray_data_series,
    operator_figures,
    tails_figures,
)
from raytop.sources.refresh import RefreshTracker, RefreshTrackers

if TYPE_CHECKING:
    from ray import ObjectRef
    from ray.actor import ActorHandle

STATS_ACTOR_NAME = "datasets_stats_actor"
STATS_ACTOR_NAMESPACE = "_dataset_stats_actor"
ABSENT_REASON = "no Ray Data dataset has run on this cluster yet"
MAX_ANSWER_AGE_S = 15.0  # the actor's answer is refreshed every 5 s by the driver
SILENT_AFTER_S = 20.0  # an endpoint failing this long is not one that is still starting
# Ray exports the stats actor's series every 10 s (metrics_report_interval_ms); the page is read
# every 2.5 s so a change is seen at most that late (a new job is found, and --inject goes in,
# a few seconds after its export) while a page of unchanged series is parsed only 4 times per export.
PAGE_MAX_AGE_S = 2.5
SETTLED_S = 30.0  # three export periods after a dataset ended, its figures are final

_OP_INDEX = re.compile(r"_(\d+)$")
_TERMINAL = {"FINISHED": "dataset_finished", "FAILED": "dataset_failed"}

NOTE_NO_PROBE = ("probe-free: figures are Ray's exported series, refreshed every ~10 s; "
                 "no logical plan, fusion reasons or backpressure policies")
NOTE_NO_SERIES = ("no ray_data_* series from the nodes' metrics endpoints (needs ray[default]): "
                  "rows, bytes, tasks and actors are unknown")


def _op_order(key: str) -> int:
    m = _OP_INDEX.search(key)
    return int(m.group(1)) if m else 1 << 30


class StatsSource:
    name = "stats"

    def __init__(self, link=None, *, timeout: float = 0.3, metrics: MetricsCache | None = None,
                 nodes_max_age: float = 5.0, clock=time.time) -> None:
        self._link = link
        self._timeout = timeout  # the first read waits this long for the actor's first answer
        if metrics is None:
            metrics = link.metrics if link is not None else shared_cache()
        self._metrics = metrics
        wanted = SERIES_NAMES + ITER_SERIES_NAMES + HISTOGRAM_SERIES
        self._metrics.want(wanted + STATE_SERIES if link is not None else wanted)
        self._clock = clock
        self._actor: ActorHandle | None = None
        self._pending: ObjectRef | None = None  # an unanswered get_datasets() call
        self._answer: dict[str, Any] | None = None
        self._answer_at = -math.inf
        self._nodes: list[Mapping] = []
        self._nodes_at = -math.inf
        self._nodes_max_age = nodes_max_age
        self._actor_ops: set = set()  # (dataset, op key) seen with actors
        self._task_ops: set = set()
        self._states: dict[str, str | None] | None = None  # None until the first read
        self._trackers = RefreshTrackers()
        self._series_seen = False
        self._indexed: tuple[tuple, OpSeries, list] = ((), {}, [])
        self._buckets: OpBuckets = {}
        self._rebuilt: tuple[tuple, dict[str, Any], list] = ((), {}, [])
        self._settled: dict[str, tuple[float, DatasetStats]] = {}  # tag -> (ended at, dataset)
        self._seen_running: set = set()  # datasets raytop saw before they ended
        self._ended_at: dict[str, float] = {}  # when raytop first saw them ended

    # ---- Ray reads ------------------------------------------------------------------------
    def _stats_actor(self) -> Any:
        import ray

        if self._actor is None:
            try:
                self._actor = ray.get_actor(STATS_ACTOR_NAME, namespace=STATS_ACTOR_NAMESPACE)
            except ValueError:
                if self._states is None:
                    self._states = {}  # raytop looked and saw none: the first one is news
                raise SourceAbsent(ABSENT_REASON) from None
        return self._actor

    def _node_metrics(self) -> list:
        import ray

        now = time.monotonic()
        if now - self._nodes_at > self._nodes_max_age:
            self._nodes, self._nodes_at = ray.nodes(), now
        return [self._metrics.get(*ep) for ep in map(node_endpoint, self._nodes) if ep]

    def fetch(self) -> dict[str, Any]:
        """The stats actor's latest ``get_datasets()`` answer. One call is in flight at a time;
        while it is, the previous answer is served. Only the very first read waits (``timeout``)."""
        import ray

        actor = self._stats_actor()
        if self._pending is None:
            self._pending = actor.get_datasets.remote()
        wait = self._timeout if self._answer is None else 0
        ready, _ = ray.wait([self._pending], timeout=wait)
        if ready:
            try:
                self._answer = ray.get(self._pending)
                self._answer_at = time.monotonic()
            except Exception:
                self._actor = None  # the actor died or moved: look it up again next time
                raise
            finally:
                self._pending = None
        if self._answer is None:
            raise TimeoutError("waiting for the stats actor's first answer")
        age = time.monotonic() - self._answer_at
        if age > MAX_ANSWER_AGE_S:
            raise TimeoutError(f"the stats actor has not answered for {age:.0f}s")
        return self._answer

    def _from_series(self) -> tuple[dict[str, Any], list]:
        """The datasets from the exported series (no driver): the pages of the actor's node and
        of the drivers' nodes."""
        link = self._link
        actor_node = link.actor_node(STATS_ACTOR_NAME, STATS_ACTOR_NAMESPACE)
        if actor_node is None:
            if self._states is None:
                self._states = {}  # raytop looked and saw none: the first one is news
            raise SourceAbsent(ABSENT_REASON)
        nodes = [n for n in link.nodes() if n.get("Alive")]
        driver_ips = {j.get("DriverIPAddress") for j in link.jobs() if not j.get("IsDead")}
        pages = [n for n in nodes if n["NodeID"] == actor_node]
        pages += [n for n in nodes if n.get("NodeManagerAddress") in driver_ips and n not in pages]
        if not pages or node_endpoint(pages[0]) is None:
            raise NeedsDriver("the stats actor's node exports no metrics")
        first_wait = None if self._series_seen else self._timeout
        metrics = [self._metrics.get(*ep, wait=first_wait, max_age=PAGE_MAX_AGE_S)
                   for ep in map(node_endpoint, pages) if ep]
        ep = node_endpoint(pages[0])
        if metrics[0] is None and ep is not None:
            failing = self._metrics.failing_for(*ep)
            why = self._metrics.error(*ep) or "no answer yet"
            if failing is not None and failing >= SILENT_AFTER_S:
                raise NeedsDriver(f"the metrics endpoint of the stats actor's node: {why}")
            raise TimeoutError(f"waiting for the metrics endpoint of the stats actor's node ({why})")
        self._series_seen = True
        key = tuple(id(m) for m in metrics)
        if key != self._rebuilt[0]:  # the same pages as last read: the same datasets
            self._rebuilt = (key, datasets_from_series(metrics), list(metrics))
        return self._rebuilt[1], metrics

    def read(self) -> Part:
        if self._link is not None:
            raw, metrics = self._from_series()
        else:
            raw = self.fetch()
            metrics = self._node_metrics()
        series = self._index(metrics)
        consumers = index_iteration_series(metrics)
        have_series = any(m for m in metrics)
        now = self._clock()
        datasets = tuple(self._with_consumer(self._settled_or_new(tag, d, series, have_series, now),
                                             consumers.get(tag))
                         for tag, d in raw.items() if isinstance(d, Mapping))
        return Part(datasets=datasets, events=self._events(datasets))

    @staticmethod
    def _with_consumer(ds: DatasetStats, series: Mapping[str, float] | None) -> DatasetStats:
        """The dataset with its consumer's loop, from Ray's ray_data_iter_* series."""
        consumer = consumer_figures(series or {})
        return ds if consumer == ds.consumer else replace(ds, consumer=consumer)

    def _index(self, metrics: list) -> OpSeries:
        """The series per operator; pages refresh every few seconds, so the index of the same
        page objects is kept."""
        key = tuple(id(m) for m in metrics)
        if key != self._indexed[0]:
            self._indexed = (key, index_ray_data_series(metrics), list(metrics))
            self._buckets = index_histograms(metrics)
        return self._indexed[1]

    def _settled_or_new(self, tag: str, d: Mapping, series: OpSeries, have_series: bool,
                        now: float) -> DatasetStats:
        """A dataset that ended ``SETTLED_S`` ago no longer changes (the stats actor keeps
        reporting every dataset it has seen): it is built once more, then kept."""
        done = self._settled.get(tag)
        if done is not None and d.get("state") == done[1].state and now - done[0] >= SETTLED_S:
            return done[1]
        ds = self._dataset(tag, d, series, have_series, now)
        if ds.state in _TERMINAL:
            since = done[0] if done is not None and done[1].state == ds.state else now
            self._settled[tag] = (since, ds)
        else:
            self._settled.pop(tag, None)
        return ds

    # ---- building the dataset ---------------------------------------------------------------
    def _compute(self, tag: str, key: str, figures: Mapping[str, Any]) -> str:
        """Neither source says whether an operator runs on an actor pool: once seen with
        actors it is "actor"; seen with tasks and never actors, "task"."""
        counts = figures.get("actors")
        if counts is not None and any((getattr(counts, k) or 0) for k in
                                      ("running", "pending", "restarting")):
            self._actor_ops.add((tag, key))
        elif figures.get("tasks_finished") or figures.get("tasks_running"):
            self._task_ops.add((tag, key))
        if (tag, key) in self._actor_ops:
            return "actor"
        return "task" if (tag, key) in self._task_ops else "other"

    def _operator(self, tag: str, key: str, o: Mapping, series: OpSeries,
                  tracker: RefreshTracker, now: float) -> OperatorStats:
        finished = o.get("state") in _TERMINAL
        figures = operator_figures(series.get((tag, key), {}), finished=finished)
        compute = self._compute(tag, key, figures)
        if compute != "actor":
            figures["actors"] = None
        if figures["input_queue_blocks"] is None and o.get("queued_blocks") is not None:
            # Ray's count of queued input blocks (external and internal queues together).
            figures["input_queue_blocks"] = int(o["queued_blocks"])
        if figures["blocks_out"] is None and o.get("progress") is not None:
            figures["blocks_out"] = int(o["progress"])  # output bundles produced so far
        rows_total = o.get("total_rows")
        if finished and rows_total is not None:
            # Once an operator finished, Ray's "total rows" is the count it produced; the
            # exported series may still be a refresh behind.
            figures["rows_out"] = max(int(rows_total), figures["rows_out"] or 0)
        return OperatorStats(
            name=clean_text(str(o.get("name") or _OP_INDEX.sub("", key))),
            op_id=clean_text(key),
            state=clean_text(o.get("state")),
            compute=compute,
            rows_total=int(rows_total) if rows_total is not None else None,
            rows_per_s=0.0 if finished else tracker.rate(key, now),
            tails=tails_figures(self._buckets.get((tag, key))),
            **figures,
        )

    def _dataset(self, tag: str, d: Mapping, series: OpSeries, have_series: bool,
                 now: float) -> DatasetStats:
        ops_raw = sorted(((k, o) for k, o in (d.get("operators") or {}).items()
                          if isinstance(o, Mapping)), key=lambda kv: _op_order(kv[0]))
        tracker = self._trackers.get(tag, now)
        mine = {k: series.get((tag, k), {}) for k, _ in ops_raw}
        tracker.observe(now, _fingerprint(mine),
                        {k: s.get(_rows_series(o)) for (k, o), s in zip(ops_raw, mine.values(), strict=True)})
        ops = tuple(self._operator(tag, k, o, series, tracker, now) for k, o in ops_raw)
        plan = names_plan(ops)
        rows_op, meaning = rows_operator(ops, plan)
        notes = (NOTE_NO_PROBE,) if have_series else (NOTE_NO_PROBE, NOTE_NO_SERIES)
        return DatasetStats(
            dataset_id=clean_text(tag),
            state=clean_text(d.get("state")),
            rows_out=rows_op.rows_out if rows_op else None,
            rows_per_s=rows_op.rows_per_s if rows_op else None,
            rows_total=rows_op.rows_total if rows_op else None,
            operators=ops,
            job_id=clean_text(d.get("job_id")),
            start_time=d.get("start_time"),
            end_time=d.get("end_time") or self._seen_ending(tag, d.get("state"), now),
            source="stats",
            plan=plan,
            figures_t=tracker.figures_t,
            notes=notes,
            rows_op_id=rows_op.op_id if rows_op else None,
            rows_meaning=meaning,
        )

    def _seen_ending(self, tag: str, state: Any, now: float) -> float | None:
        """Ray's series carry no end time: the first reading in which a dataset raytop saw
        running had ended (at most one export period late); None for one that ended before."""
        if state not in _TERMINAL:
            self._seen_running.add(tag)
            return None
        if tag not in self._seen_running:
            return None
        return self._ended_at.setdefault(tag, now)

    def _events(self, datasets: tuple[DatasetStats, ...]) -> tuple[Event, ...]:
        """Datasets that started/finished/failed since the last read (none on the first read:
        what happened before raytop looked is not reported as news)."""
        now = self._clock()
        states = {d.dataset_id: d.state for d in datasets}
        events: list[Event] = []
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


def _rows_series(o: Mapping) -> str:
    """The counter an operator's rows/s follows: a write outputs one result row per block, so
    its rows are the ones it received (``OperatorStats.rows_processed``)."""
    name = str(o.get("name") or "")
    return ("ray_data_num_row_inputs_received" if name.split("->")[-1].strip().startswith("Write")
            else "ray_data_row_outputs_taken")


def _fingerprint(per_op: Mapping[str, Mapping[str, float]]) -> tuple:
    """What changes when the stats actor's export refreshes (the driver's own series refresh on
    another schedule and would look like a refresh in between)."""
    return tuple(sorted((k, tuple(sorted((n, v) for n, v in s.items() if n not in DRIVER_SERIES)))
                        for k, s in per_op.items()))


def rows_operator(ops: tuple[OperatorStats, ...], plan: Plan | None
                  ) -> tuple[OperatorStats | None, str | None]:
    """The operator whose output rows are the dataset's rows, and what they mean
    (``raytop.dataset_rows``): through the plan's edges where the names tell them, else the
    operator before."""
    ups = {p.op_id: p.input_ids[0] for p in (plan.physical if plan else ()) if p.input_ids}
    if ups:
        return dataset_rows.pick(ops, ups.get)
    return dataset_rows.pick(ops, dataset_rows.linear_upstream(ops))


def names_plan(ops: tuple[OperatorStats, ...]) -> Plan | None:
    """What the operator names alone say about the plan (fused operators read ``A->B``). Edges
    only for a pipeline with one input buffer, where Ray's topology order is the chain; with
    several (zip, union, join) the names cannot tell which operator feeds which, so none."""
    linear = sum(1 for o in ops if dataset_rows.is_source(o)) <= 1
    physical = tuple(
        PhysicalOp(name=o.name, logical=tuple(o.name.split("->")),
                   inputs=(ops[i - 1].name,) if linear and i > 0 else (),
                   op_id=o.op_id,
                   input_ids=(up,) if linear and i > 0 and (up := ops[i - 1].op_id) else ())
        for i, o in enumerate(ops))
    return Plan(physical=physical, source="names") if physical else None
