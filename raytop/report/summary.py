"""The report's figures: run summary, per-dataset and per-operator aggregates over a recording.

Pure (no Ray, no matplotlib). Definitions, also documented in docs/report.md:
- a dataset's rows are the largest ``DatasetStats.rows_out`` seen: the rows that flowed through
  its last real operator (into a write, ``count()`` or an aggregation, not their one-row output;
  ``rows_meaning`` says which);
- operators are told apart by op id (``op_key``): two of one name are two rows, labelled
  "name #index";
- a dataset's window runs from its ``start_time`` (else the first snapshot showing it) to its
  ``end_time`` (else the last snapshot showing it); the run's ``active_s`` is the union of those
  windows, and ``rows_per_s`` = rows of all datasets / ``active_s``;
- an operator's ``rows_per_s`` = its final ``rows_processed`` (``rows_out``; for a write, the
  rows it received, as it outputs one row per block) / (time it first reached that final value −
  its dataset's window start);
- backpressure seconds: each sample interval counts for the policies active at its start.
Unknown stays ``None``: a figure with no reading at all is null, never 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from raytop import __version__ as RAYTOP_VERSION
from raytop.model import OK, DatasetStats, OperatorStats, Snapshot, op_key, op_labels, sum_known
from raytop.report.history import History
from raytop.tails import Percentiles


def _max(a, b):
    if b is None:
        return a
    return b if a is None or b > a else a


class _Mean:
    __slots__ = ("total", "n", "peak")

    def __init__(self) -> None:
        self.total = 0.0
        self.n = 0
        self.peak = None

    def add(self, v) -> None:
        if v is None:
            return
        self.total += v
        self.n += 1
        self.peak = _max(self.peak, v)

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


@dataclass
class _DatasetAcc:
    dataset_id: str
    first_t: float
    last_t: float
    start_time: float | None = None
    end_time: float | None = None
    state: str | None = None
    rows_out: int | None = None
    rows_total: int | None = None
    job_id: str | None = None
    error: str | None = None
    source: str | None = None
    rows_meaning: str | None = None
    operators: list[str] = field(default_factory=list)  # op keys, in order of appearance
    labels: dict[str, str] = field(default_factory=dict)  # op key -> display label

    def window(self) -> tuple[float, float]:
        start = self.start_time if self.start_time is not None else self.first_t
        end = self.end_time if self.end_time is not None else self.last_t
        return start, max(start, end)


@dataclass
class _OperatorAcc:
    dataset_id: str
    name: str
    op_id: str = ""
    physical_class: str | None = None
    logical: tuple[str, ...] = ()
    compute: str = "other"
    state: str | None = None
    rows_out: int | None = None
    rows_done: int | None = None  # OperatorStats.rows_processed: a write's rows are its input
    rows_final_t: float | None = None  # when rows_done reached its final value
    bytes_out: int | None = None
    blocks_out: int | None = None
    tasks_finished: int | None = None
    tasks_failed: int | None = None
    tasks_running: _Mean = field(default_factory=_Mean)
    input_queue_blocks: _Mean = field(default_factory=_Mean)
    input_queue_bytes_max: int | None = None
    output_queue_blocks_max: int | None = None
    output_queue_bytes_max: int | None = None
    actors_running_max: int | None = None
    actors_pending_max: int | None = None
    actors_restarting_max: int | None = None
    heap_bytes_max: int | None = None
    gpu_mem_bytes_max: int | None = None
    obj_store_mem_bytes_max: int | None = None
    avg_task_s: float | None = None
    avg_block_bytes: float | None = None
    avg_block_rows: float | None = None
    tails: dict[str, Percentiles] = field(default_factory=dict)  # last reading of each histogram
    submission_backpressure_s: float | None = None
    output_backpressure_s: float | None = None
    backpressure_s: dict[str, float] = field(default_factory=dict)
    last_t: float | None = None
    last_flags: tuple[str, ...] = ()

    def add(self, t: float, op: OperatorStats) -> None:
        if self.last_t is not None:
            for flag in self.last_flags:
                self.backpressure_s[flag] = self.backpressure_s.get(flag, 0.0) + (t - self.last_t)
        self.last_t, self.last_flags = t, tuple(op.backpressure)
        self.physical_class = op.physical_class or self.physical_class
        self.logical = tuple(op.logical) or self.logical
        self.compute = op.compute if op.compute != "other" else self.compute
        self.state = op.state or self.state
        self.rows_out = _max(self.rows_out, op.rows_out)
        done = op.rows_processed
        if done is not None and (self.rows_done is None or done > self.rows_done):
            self.rows_done, self.rows_final_t = done, t
        self.bytes_out = _max(self.bytes_out, op.bytes_out)
        self.blocks_out = _max(self.blocks_out, op.blocks_out)
        self.tasks_finished = _max(self.tasks_finished, op.tasks_finished)
        self.tasks_failed = _max(self.tasks_failed, op.tasks_failed)
        self.tasks_running.add(op.tasks_running)
        self.input_queue_blocks.add(op.input_queue_blocks)
        self.input_queue_bytes_max = _max(self.input_queue_bytes_max, op.input_queue_bytes)
        self.output_queue_blocks_max = _max(self.output_queue_blocks_max, op.output_queue_blocks)
        self.output_queue_bytes_max = _max(self.output_queue_bytes_max, op.output_queue_bytes)
        if op.actors is not None:
            self.actors_running_max = _max(self.actors_running_max, op.actors.running)
            self.actors_pending_max = _max(self.actors_pending_max, op.actors.pending)
            self.actors_restarting_max = _max(self.actors_restarting_max, op.actors.restarting)
        self.heap_bytes_max = _max(self.heap_bytes_max, op.heap_bytes)
        self.gpu_mem_bytes_max = _max(self.gpu_mem_bytes_max, op.gpu_mem_bytes)
        self.obj_store_mem_bytes_max = _max(self.obj_store_mem_bytes_max, op.obj_store_mem_bytes)
        for attr in ("avg_task_s", "avg_block_bytes", "avg_block_rows"):
            if getattr(op, attr) is not None:
                setattr(self, attr, getattr(op, attr))
        for attr in TAIL_FIELDS if op.tails is not None else ():
            reading = getattr(op.tails, attr)
            if reading is not None and (reading.count or attr not in self.tails):
                self.tails[attr] = reading
        self.submission_backpressure_s = _max(self.submission_backpressure_s,
                                              op.submission_backpressure_s)
        self.output_backpressure_s = _max(self.output_backpressure_s, op.output_backpressure_s)

    def to_dict(self, window: tuple[float, float]) -> dict:
        rows_per_s = None
        if self.rows_done is not None and self.rows_final_t is not None:
            span = self.rows_final_t - window[0]
            if self.rows_done == 0:
                rows_per_s = 0.0
            elif span > 0:
                rows_per_s = self.rows_done / span
        return {
            "dataset_id": self.dataset_id, "name": self.name, "op_id": self.op_id,
            "physical_class": self.physical_class, "logical": list(self.logical),
            "compute": self.compute, "state": self.state,
            "rows_out": self.rows_out, "bytes_out": self.bytes_out, "blocks_out": self.blocks_out,
            "rows_per_s": rows_per_s,
            "tasks_finished": self.tasks_finished, "tasks_failed": self.tasks_failed,
            "tasks_running_mean": self.tasks_running.mean, "tasks_running_max": self.tasks_running.peak,
            "input_queue_blocks_mean": self.input_queue_blocks.mean,
            "input_queue_blocks_max": self.input_queue_blocks.peak,
            "input_queue_bytes_max": self.input_queue_bytes_max,
            "output_queue_blocks_max": self.output_queue_blocks_max,
            "output_queue_bytes_max": self.output_queue_bytes_max,
            "actors_running_max": self.actors_running_max,
            "actors_pending_max": self.actors_pending_max,
            "actors_restarting_max": self.actors_restarting_max,
            "heap_bytes_max": self.heap_bytes_max, "gpu_mem_bytes_max": self.gpu_mem_bytes_max,
            "obj_store_mem_bytes_max": self.obj_store_mem_bytes_max,
            "avg_task_s": self.avg_task_s, "avg_block_bytes": self.avg_block_bytes,
            "avg_block_rows": self.avg_block_rows,
            **{attr: _percentiles_dict(self.tails.get(attr)) for attr in TAIL_FIELDS},
            "backpressure_s": dict(sorted(self.backpressure_s.items())),
            "ray_submission_backpressure_s": self.submission_backpressure_s,
            "ray_output_backpressure_s": self.output_backpressure_s,
        }


TAIL_FIELDS = ("task_s", "block_bytes", "block_rows")


def _percentiles_dict(p: Percentiles | None) -> dict | None:
    return None if p is None else {"p50": p.p50, "p90": p.p90, "p99": p.p99, "count": p.count}


def _union_length(windows: list[tuple[float, float]]) -> float:
    total, cur_start, cur_end = 0.0, 0.0, None  # cur_start is read only once cur_end is set
    for start, end in sorted(windows):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


@dataclass(frozen=True)
class Aggregates:
    summary: dict
    datasets: list[dict]
    operators: list[dict]


def _node_keys(snaps: Sequence[Snapshot]) -> Callable[[Any], str]:
    """A node's key across the recording. Before the cluster source answers, a node's local
    readings (GPU, heap) arrive under a provisional "local:<ip>" id; they count as the real
    node with that IP when there is one."""
    real_by_ip: dict[str, set] = {}
    for snap in snaps:
        for node in snap.nodes:
            if node.ip and not node.node_id.startswith("local"):
                real_by_ip.setdefault(node.ip, set()).add(node.node_id)

    def key_of(node) -> str:
        if node.node_id.startswith("local") and real_by_ip.get(node.ip or ""):
            return min(real_by_ip[node.ip])  # several raylets on one host: it is one of them
        return node.node_id
    return key_of


class _ClusterAcc:
    """Nodes, GPUs, object store, heap and sources over the recording, one snapshot at a time."""

    def __init__(self, node_key: Callable[[Any], str]) -> None:
        self.node_key = node_key
        self.node_ids: set = set()
        self.gpu_keys: set = set()
        self.gpu_names: list[str] = []
        self.gpus_used: set = set()  # GPUs where a process of a pipeline operator ran
        self.gpu_util_samples: dict[tuple[str, int], list[float]] = {}
        self.store_used, self.store_spilled = _Mean(), _Mean()
        self.cpus_max = self.store_capacity_max = self.heap_max = None
        self.gpu_mem_max = self.node_mem_pct_max = None
        self.source_problems: dict[str, dict] = {}
        self.ray_version: str | None = None

    def add(self, snap: Snapshot) -> None:
        self.ray_version = snap.ray_version or self.ray_version
        for name, status in snap.sources.items():
            if status != OK:
                entry = self.source_problems.setdefault(name, {"status": status, "snapshots": 0})
                entry["status"] = status
                entry["snapshots"] += 1
        running = any(d.state == "RUNNING" for d in snap.datasets)
        for node in snap.nodes:
            self._add_node(node, running)
        nodes = snap.nodes
        self.cpus_max = _max(self.cpus_max, sum_known(n.num_cpus for n in nodes))
        self.store_used.add(sum_known(n.object_store.used_bytes for n in nodes))
        self.store_spilled.add(sum_known(n.object_store.spilled_bytes for n in nodes))
        self.store_capacity_max = _max(self.store_capacity_max,
                                       sum_known(n.object_store.capacity_bytes for n in nodes))
        self.heap_max = _max(self.heap_max, sum_known(n.heap_bytes for n in nodes))

    def _add_node(self, node, running: bool) -> None:
        key_of_node = self.node_key(node)
        if node.alive:
            self.node_ids.add(key_of_node)
        if node.mem_used_bytes is not None and node.mem_total_bytes:
            self.node_mem_pct_max = _max(self.node_mem_pct_max,
                                         100.0 * node.mem_used_bytes / node.mem_total_bytes)
        for gpu in node.gpus:
            key = (key_of_node, gpu.index)
            if key not in self.gpu_keys:
                self.gpu_keys.add(key)
                if gpu.name:
                    self.gpu_names.append(gpu.name)
            if any(p.operator for p in gpu.processes):
                self.gpus_used.add(key)
            if running and gpu.util_percent is not None:
                self.gpu_util_samples.setdefault(key, []).append(gpu.util_percent)
            self.gpu_mem_max = _max(self.gpu_mem_max, gpu.mem_used_bytes)

    def gpu_util(self) -> _Mean:
        """Mean utilisation while a dataset ran, over the GPUs the pipeline used (idle GPUs of a
        bigger machine would only dilute it); all GPUs when no process could be attributed."""
        util = _Mean()
        for key in (self.gpus_used & set(self.gpu_util_samples)) or set(self.gpu_util_samples):
            for value in self.gpu_util_samples[key]:
                util.add(value)
        return util

    def fields(self) -> dict[str, Any]:
        util = self.gpu_util()
        return {
            "nodes": len(self.node_ids),
            "cpus": self.cpus_max,
            "gpus": len(self.gpu_keys),
            "gpu_names": sorted(set(self.gpu_names)),
            "gpu_util_mean": util.mean,
            "gpu_util_max": util.peak,
            "gpu_mem_max_bytes": self.gpu_mem_max,
            "object_store_used_max_bytes": self.store_used.peak,
            "object_store_capacity_bytes": self.store_capacity_max,
            "spilled_bytes_max": self.store_spilled.peak,
            "heap_max_bytes": self.heap_max,
            "node_mem_max_percent": self.node_mem_pct_max,
            "sources_unavailable": dict(sorted(self.source_problems.items())),
        }


def aggregate(history: History) -> Aggregates:
    """One pass over the snapshots: the summary, per-dataset and per-operator figures."""
    snaps: tuple[Snapshot, ...] = history.snapshots
    cluster = _ClusterAcc(_node_keys(snaps))
    datasets: dict[str, _DatasetAcc] = {}
    operators: dict[tuple[str, str], _OperatorAcc] = {}
    for snap in snaps:
        cluster.add(snap)
        for ds in snap.datasets:
            _add_dataset(datasets, operators, snap.t, ds)
    windows = {dsid: acc.window() for dsid, acc in datasets.items()}
    return Aggregates(summary=_summary(history, cluster, datasets, windows),
                      datasets=_dataset_rows(datasets, windows),
                      operators=_operator_rows(datasets, operators, windows))


def _summary(history: History, cluster: _ClusterAcc, datasets: dict[str, _DatasetAcc],
             windows: dict[str, tuple[float, float]]) -> dict[str, Any]:
    snaps, meta = history.snapshots, history.meta
    rows = sum_known(acc.rows_out for acc in datasets.values())
    active_s = _union_length(list(windows.values())) if windows else None
    exit_codes = [ev.data.get("exit_code") for ev in history.events
                  if ev.kind == "job_exit" and ev.data.get("exit_code") is not None]
    return {
        "recording": history.name,
        "command": list(meta["command"]) if meta.get("command") else None,
        "host": meta.get("host"),
        "started_utc": meta.get("started_utc"),
        "interval_s": meta.get("interval"),
        "start_t": snaps[0].t, "end_t": snaps[-1].t, "duration_s": snaps[-1].t - snaps[0].t,
        "snapshots": len(snaps),
        **({"snapshots_recorded": history.recorded} if history.recorded is not None else {}),
        "rows": rows,
        "active_s": active_s,
        "rows_per_s": (rows / active_s) if rows is not None and active_s else None,
        "datasets": len(datasets),
        "dataset_states": dict(Counter(acc.state or "UNKNOWN" for acc in datasets.values())),
        "ray_version": meta.get("ray_version") or cluster.ray_version,
        "raytop_version": meta.get("raytop_version"),
        "report_raytop_version": RAYTOP_VERSION,
        **cluster.fields(),
        "exit_code": exit_codes[-1] if exit_codes else None,
        "gaps": sum(1 for ev in history.events if ev.kind == "gap"),
        "ci_gate": _ci_gate(history),
        "overrides": _overrides(history),
    }


def _overrides(history: History) -> list[dict[str, Any]] | None:
    """`raytop run --set` settings in force, with how many of the script's calls each changed
    (None: the launcher could not tell)."""
    texts = history.meta.get("overrides")
    if not texts:
        return None
    reported = [ev for ev in history.events if ev.kind == "overrides"]
    matches = dict(reported[-1].data.get("matches", {})) if reported else {}
    return [{"setting": t, "calls": matches.get(t)} for t in texts]


def _ci_gate(history: History) -> dict[str, Any] | None:
    """The verdict of `--fail-on` when the session had one: level, failed, findings."""
    gates = [ev for ev in history.events if ev.kind == "ci_gate"]
    return dict(gates[-1].data) if gates else None


def _dataset_rows(datasets: dict[str, _DatasetAcc],
                  windows: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    out = []
    for dsid, acc in datasets.items():
        start, end = windows[dsid]
        span, n = end - start, acc.rows_out
        out.append({
            "dataset_id": dsid, "state": acc.state, "error": acc.error,
            "window_start": start, "window_end": end, "duration_s": span,
            "rows_out_max": n,
            "rows_per_s": (n / span) if n is not None and span > 0 else None,
            "rows_meaning": acc.rows_meaning,
            "operators": [acc.labels.get(k, k) for k in acc.operators],
            "operator_ids": list(acc.operators),
        })
    return out


def _operator_rows(datasets: dict[str, _DatasetAcc], operators, windows) -> list[dict[str, Any]]:
    out = []
    for dsid, acc in datasets.items():
        for key in acc.operators:
            one = operators[(dsid, key)].to_dict(windows[dsid])
            one["name"] = acc.labels.get(key, one["name"])  # "#index" when names repeat
            out.append(one)
    return out


def _add_dataset(datasets, operators, t: float, ds: DatasetStats) -> None:
    acc = datasets.get(ds.dataset_id)
    if acc is None:
        acc = datasets[ds.dataset_id] = _DatasetAcc(ds.dataset_id, first_t=t, last_t=t)
    acc.last_t = t
    for attr in ("start_time", "end_time", "state", "rows_total", "job_id", "error", "source",
                 "rows_meaning"):
        v = getattr(ds, attr)
        if v is not None:
            setattr(acc, attr, v)
    acc.rows_out = _max(acc.rows_out, ds.rows_out)
    acc.labels.update(op_labels(ds.operators))
    for op in ds.operators:
        key = (ds.dataset_id, op_key(op))
        op_acc = operators.get(key)
        if op_acc is None:
            op_acc = operators[key] = _OperatorAcc(ds.dataset_id, op.name, op_key(op))
            acc.operators.append(op_key(op))
        op_acc.add(t, op)
