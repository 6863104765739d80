"""In the driver: each operator's histograms and longest-running tasks, as ``raytop.tails``.

Read in two halves so that Ray's scheduling thread only copies a few short lists (``capture``,
called by the probe next to ``ray_adapter.read_dataset``): the percentiles, the choice of slow
tasks and the question where they run (``TaskPlacements``, one GCS call per new slow task) are
done on the probe's reporter thread (``with_tails``). Private attributes read, all with defaults
(docs/ray-internals.md): ``op._metrics.task_completion_time``, ``.block_size_bytes``,
``.block_size_rows`` (``RuntimeMetricsHistogram``: ``_boundaries``, ``_bucket_counts``) and
``op._metrics._running_tasks`` (task index -> ``RunningTaskInfo`` with ``start_time``, a
``perf_counter()`` value taken at submission, and ``task_id``), in submission order.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any

from raytop.model import DatasetStats
from raytop.tails import SLOW_TASKS_MAX, OperatorTails, Percentiles, SlowTask, from_counts

# OperatorTails field -> OpRuntimeMetrics histogram.
HISTOGRAMS = (("task_s", "task_completion_time"), ("block_bytes", "block_size_bytes"),
              ("block_rows", "block_size_rows"))
# Running tasks the probe reports (and asks the GCS about): older than CANDIDATE_FACTOR x the p90
# of at least CANDIDATE_MIN_TASKS finished tasks and CANDIDATE_MIN_S. Looser than the
# ``stragglers`` rule's limits (analysis/thresholds.py, checked by a test), which judges them.
CANDIDATE_MIN_S = 2.0
CANDIDATE_FACTOR = 2.0
CANDIDATE_MIN_TASKS = 10
SCAN_MAX = 64  # running tasks looked at per operator (the oldest): counts above it read as 64


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - Ray's internals vary by version; the driver must not notice
        return None


@dataclass
class OpCapture:
    """One operator's raw readings, copied on the scheduling thread."""

    metrics: Any  # the operator's OpRuntimeMetrics (its histograms' bounds are read later)
    counts: tuple[list | None, ...]  # per-bucket counts, one list per HISTOGRAMS entry
    oldest: list[tuple[int, Any]] | None  # (task index, RunningTaskInfo), oldest first


@dataclass
class Capture:
    perf: float  # time.perf_counter() when captured
    wall: float  # time.time() then
    ops: list[OpCapture | None]


def _counts(h: Any) -> list | None:
    counts = getattr(h, "_bucket_counts", None)
    return counts.copy() if isinstance(counts, list) else None


def _capture_op(op: Any) -> OpCapture | None:
    """The fast path reads the names Ray 2.54 - 2.60 have (0.02 ms for 14 operators); anything
    missing takes the attribute-by-attribute one."""
    m: Any = getattr(op, "_metrics", None)
    try:
        return OpCapture(m, (m.task_completion_time._bucket_counts.copy(),
                             m.block_size_bytes._bucket_counts.copy(),
                             m.block_size_rows._bucket_counts.copy()),
                         list(islice(m._running_tasks.items(), SCAN_MAX)))
    except Exception:  # noqa: BLE001 - Ray's internals vary by version: read what there is
        pass
    if m is None:
        return None
    running = getattr(m, "_running_tasks", None)
    oldest = list(islice(running.items(), SCAN_MAX)) if isinstance(running, dict) else None
    return OpCapture(m, tuple(_counts(getattr(m, attr, None)) for _, attr in HISTOGRAMS), oldest)


def capture(executor: Any) -> Capture:
    """Every operator's histogram counts and oldest running tasks, in topology order, on Ray's
    scheduling thread (the only consistent view): list copies only. Never raises."""
    perf, wall = time.perf_counter(), time.time()
    topology = getattr(executor, "_topology", None) or {}
    ops: list[OpCapture | None] = []
    for op in list(topology):
        try:
            ops.append(_capture_op(op))
        except Exception:  # noqa: BLE001 - the driver must not notice
            ops.append(None)
    return Capture(perf, wall, ops)


def candidate_limit(task_s: Percentiles | None) -> float | None:
    """Seconds a running task must have run (since submission) to be reported; None when too
    few tasks finished to say what is slow."""
    if task_s is None or task_s.p90 is None or (task_s.count or 0) < CANDIDATE_MIN_TASKS:
        return None
    return max(CANDIDATE_MIN_S, CANDIDATE_FACTOR * task_s.p90)


class TaskPlacements:
    """Where slow tasks run, asked of the GCS once per task (again every ``RETRY_S`` while it is
    not known yet), at most ``MAX_LOOKUPS`` calls per report; answers are kept for the run."""

    RETRY_S = 2.0
    MAX_LOOKUPS = 4
    KEEP = 4096
    TIMEOUT_S = 0.5

    def __init__(self, client_factory: Callable[[str], Any] | None = None) -> None:
        self._factory = client_factory or _gcs_client
        self._client: Any = None
        self._address: str | None = None
        self._known: dict[bytes, tuple] = {}
        self._asked: dict[bytes, float] = {}
        self._budget = 0

    def begin(self, address: str | None, lookups: bool) -> None:
        """A new report: GCS calls are allowed (``lookups``) up to ``MAX_LOOKUPS``."""
        self._budget = self.MAX_LOOKUPS if lookups and address else 0
        if address and address != self._address:
            self._client, self._address = None, address

    def place(self, task_id: Any) -> tuple | None:
        """(node id hex, worker pid, unix s it started running) as far as known, else None."""
        key = _safe(lambda: task_id.binary())
        if not isinstance(key, bytes):
            return None
        known = self._known.get(key)
        if known is not None and known[0] is not None and known[2] is not None:
            return known
        now = time.monotonic()
        if self._budget <= 0 or now - self._asked.get(key, -self.RETRY_S) < self.RETRY_S:
            return known
        self._budget -= 1
        if len(self._asked) >= self.KEEP:  # a long run: forget the tasks of long ago
            self._known.clear()
            self._asked.clear()
        self._asked[key] = now
        answer = self._ask(key)
        if answer is not None:
            self._known[key] = answer
        return answer or known

    def _ask(self, key: bytes) -> tuple | None:
        try:
            if self._client is None and self._address:
                self._client = self._factory(self._address)
            return self._client.task_placement(key) if self._client is not None else None
        except Exception:  # noqa: BLE001 - no GCS answer: the node stays unknown
            self._budget = 0  # a GCS that failed once this report is not asked again in it
            return None


_TASK_RUNNING = 8  # TaskStatus.RUNNING, a key of TaskStateUpdate.state_ts_ns


class GcsTasks:
    """The GCS's task events over Ray's own gRPC channel (in the driver: Ray is imported; the
    channel carries the auth token and TLS settings as Ray's clients do)."""

    def __init__(self, address: str, timeout: float) -> None:
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

        self._pb: Any = gcs_service_pb2
        self._timeout = timeout
        self._stub = gcs_service_pb2_grpc.TaskInfoGcsServiceStub(init_grpc_channel(address))

    def task_placement(self, task_id: bytes) -> tuple[str | None, int | None, float | None] | None:
        """Where the latest attempt of a task runs, from the task events workers report to the
        GCS (about once a second): (node id hex, worker pid, unix s it started running), each
        None until known; None when the GCS has no event of the task yet."""
        request = self._pb.GetTaskEventsRequest
        filters = request.Filters()
        filters.task_filters.append(request.Filters.TaskIdFilter(
            task_id=task_id, predicate=self._pb.FilterPredicate.Value("EQUAL")))
        reply = self._stub.GetTaskEvents(request(filters=filters, limit=16), timeout=self._timeout)
        events = list(reply.events_by_task)
        if not events:
            return None
        update = max(events, key=lambda e: e.attempt_number).state_updates
        running_ns = update.state_ts_ns.get(_TASK_RUNNING)
        return (bytes(update.node_id).hex() or None, int(update.worker_pid) or None,
                running_ns / 1e9 if running_ns else None)


def _gcs_client(address: str) -> Any:
    return GcsTasks(address, timeout=TaskPlacements.TIMEOUT_S)


def _slow_task(entry: tuple[int, float, Any], cap: Capture, placements: TaskPlacements) -> SlowTask:
    index, started, task_id = entry
    age = max(0.0, cap.perf - started)
    node = pid = running_s = None
    placed = placements.place(task_id)
    if placed is not None:
        node, pid, running_since = placed
        if running_since is not None:  # another machine's clock: kept within what is possible
            running_s = min(age, max(0.0, cap.wall - running_since))
    return SlowTask(age_s=round(age, 3), running_s=None if running_s is None else round(running_s, 3),
                    node_id=node, worker_pid=pid, task_index=index if isinstance(index, int) else None)


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _percentiles(metrics: Any, attr: str, counts: list | None) -> Percentiles | None:
    bounds = getattr(getattr(metrics, attr, None), "_boundaries", None)
    if counts is None or not isinstance(bounds, list):
        return None
    return from_counts(bounds, counts)


def tails_of(op: OpCapture | None, cap: Capture, placements: TaskPlacements) -> OperatorTails | None:
    if op is None:
        return None
    task_s, block_bytes, block_rows = (_percentiles(op.metrics, attr, counts)
                                       for (_, attr), counts in zip(HISTOGRAMS, op.counts, strict=True))
    slow: tuple[SlowTask, ...] | None = None
    count = None
    if op.oldest is not None:
        limit = candidate_limit(task_s)
        started = [(i, t, getattr(info, "task_id", None)) for i, info in op.oldest
                   if (t := _float(getattr(info, "start_time", None))) is not None]
        over = [] if limit is None else [e for e in started if cap.perf - e[1] >= limit]
        count = len(over)
        slow = tuple(_slow_task(e, cap, placements) for e in over[:SLOW_TASKS_MAX])
    return OperatorTails(task_s=task_s, block_bytes=block_bytes, block_rows=block_rows,
                         slow_tasks=slow, slow_task_count=count)


def with_tails(stats: DatasetStats, cap: Capture | None, placements: TaskPlacements) -> DatasetStats:
    """``stats`` with each operator's ``tails`` (operators and captures are both in topology
    order); unchanged when the capture does not match."""
    if cap is None or len(cap.ops) != len(stats.operators):
        return stats
    ops = tuple(dataclasses.replace(o, tails=t) if t is not None else o
                for o, t in ((o, _safe(partial(tails_of, c, cap, placements)))
                             for o, c in zip(stats.operators, cap.ops, strict=True)))
    return dataclasses.replace(stats, operators=ops)
