"""Figures the screens show that are derived from snapshots: rates, ETA, the bottleneck, series.

Pure functions over frozen snapshots (no Textual here), so they are tested on hand-built data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from raytop.model import DatasetStats, DriverInfo, OperatorStats, Snapshot, op_key, op_labels

if TYPE_CHECKING:
    from raytop.tui.frame import Frame

T = TypeVar("T")

RATE_WINDOW_S = 5.0
_ACTIVE_STATES = ("RUNNING", "PENDING", None)


def pick_dataset(snap: Snapshot | None, preferred: str | None) -> DatasetStats | None:
    """The dataset the user picked, else the newest running one, else the newest one."""
    if snap is None or not snap.datasets:
        return None
    if preferred is not None:
        chosen = snap.dataset(preferred)
        if chosen is not None:
            return chosen
    running = [d for d in snap.datasets if d.state == "RUNNING"]
    pool = running or list(snap.datasets)
    return max(pool, key=lambda d: (d.start_time or 0.0))


def driver_of(snap: Snapshot | None, ds: DatasetStats | None) -> DriverInfo | None:
    """The driver process running ``ds``, as the cluster's job table lists it."""
    if snap is None or ds is None:
        return None
    return next((d for d in snap.drivers
                 if d.pid == ds.driver_pid or ds.dataset_id in d.datasets), None)


def find_operator(ds: DatasetStats | None, key: str) -> OperatorStats | None:
    """The operator with op key ``key`` (``model.op_key``: its op id; the name in old records)."""
    if ds is None:
        return None
    return next((op for op in ds.operators if op_key(op) == key), None)


def label_of(ds: DatasetStats | None, key: str) -> str:
    """The operator's display label: the name, "#index" added when several share it."""
    return key if ds is None else op_labels(ds.operators).get(key, key)


def _rate(history: Sequence[Snapshot], value: Callable[[Snapshot], float | None],
          window_s: float) -> float | None:
    """Change per second of a cumulative value between the newest snapshot and the oldest one
    inside ``window_s``; None when either end is unknown or there is only one point."""
    if len(history) < 2:
        return None
    newest = history[-1]
    end = value(newest)
    if end is None:
        return None
    start_snap = None
    for snap in reversed(history[:-1]):
        if newest.t - snap.t > window_s and start_snap is not None:
            break
        if value(snap) is not None:
            start_snap = snap
    if start_snap is None or newest.t <= start_snap.t:
        return None
    start = value(start_snap)
    if start is None or end < start:  # a counter that went back: a new execution
        return None
    return (end - start) / (newest.t - start_snap.t)


def op_rate(history: Sequence[Snapshot], dataset_id: str, key: str, attr: str = "rows_processed",
            window_s: float = RATE_WINDOW_S) -> float | None:
    if attr in ("rows_out", "rows_processed") and history:
        op = find_operator(history[-1].dataset(dataset_id), key)
        if op is not None and op.rows_per_s is not None:
            return op.rows_per_s  # a source whose counters move in steps measured it

    def value(snap: Snapshot) -> float | None:
        op = find_operator(snap.dataset(dataset_id), key)
        return None if op is None else getattr(op, attr)

    return _rate(history, value, window_s)


def op_rates(history: Sequence[Snapshot], dataset_id: str,
             window_s: float = RATE_WINDOW_S) -> dict[str, float | None]:
    """``op_rate`` of every operator of the newest snapshot's dataset, each snapshot's operators
    indexed once (the frame builder calls it for the table, off the UI thread)."""
    newest = history[-1].dataset(dataset_id) if history else None
    if newest is None:
        return {}
    index: dict[int, dict[str, OperatorStats]] = {}

    def operators(snap: Snapshot) -> dict[str, OperatorStats]:
        ops = index.get(id(snap))
        if ops is None:
            ds = snap.dataset(dataset_id)
            ops = index[id(snap)] = {op_key(op): op for op in ds.operators} if ds else {}
        return ops

    out: dict[str, float | None] = {}
    for op in newest.operators:
        key = op_key(op)
        if op.rows_per_s is not None:
            out[key] = op.rows_per_s
            continue

        def value(snap: Snapshot, key: str = key) -> float | None:
            found = operators(snap).get(key)
            return None if found is None else found.rows_out

        out[key] = _rate(history, value, window_s)
    return out


def dataset_rate(history: Sequence[Snapshot], dataset_id: str,
                 window_s: float = RATE_WINDOW_S) -> float | None:
    newest = history[-1].dataset(dataset_id) if history else None
    if newest is not None and newest.rows_per_s is not None:
        return newest.rows_per_s

    def value(snap: Snapshot) -> float | None:
        ds = snap.dataset(dataset_id)
        return None if ds is None else ds.rows_out

    return _rate(history, value, window_s)


def rows_hint(ds: DatasetStats) -> str:
    """What the dataset's rows are, in a few words, when they are not simply the rows the
    consumer took: "(into count())", "(into the write)"; "" otherwise."""
    meaning = ds.rows_meaning or ""
    if not meaning.startswith("rows into") and not meaning.startswith("result rows"):
        return ""
    return "(" + meaning.split(" (out of")[0].removeprefix("rows ") + ")"


def progress(ds: DatasetStats) -> float | None:
    if ds.rows_out is None or not ds.rows_total:
        return None
    return max(0.0, min(1.0, ds.rows_out / ds.rows_total))


def eta_s(ds: DatasetStats, rate: float | None) -> float | None:
    if ds.state == "FINISHED":
        return 0.0
    if ds.rows_out is None or not ds.rows_total or not rate or rate <= 0:
        return None
    return max(0.0, (ds.rows_total - ds.rows_out) / rate)


def elapsed_s(ds: DatasetStats, now: float) -> float | None:
    if ds.start_time is None:
        return None
    end = ds.end_time if ds.end_time is not None and ds.state in ("FINISHED", "FAILED") else now
    return max(0.0, end - ds.start_time)


@dataclass(frozen=True)
class Bottleneck:
    operator: str  # display label
    why: str
    key: str = ""  # op key (``model.op_key``)


def bottleneck(ds: DatasetStats | None, frame: Frame | None = None) -> Bottleneck | None:
    """The operator that holds the pipeline back. With the analysis package (the usual case) it is
    the advisor's, computed off the UI thread over recent history and carried by the frame; the
    reason is read from the current snapshot. Without it, a per-snapshot stand-in: among
    unfinished operators not held by output backpressure, the one with most blocks waiting."""
    if ds is None or ds.state in ("FINISHED", "FAILED"):
        return None
    if frame is not None and frame.bottleneck_available:
        key = frame.bottlenecks.get(ds.dataset_id)
        op = find_operator(ds, key) if key else None
        if op is None or key is None:
            return None
        return Bottleneck(label_of(ds, key), _why(op, op.queued_blocks or 0), key)
    best: tuple[int, int, OperatorStats] | None = None
    for index, op in enumerate(ds.operators):
        if op.state not in _ACTIVE_STATES:
            continue
        if any(b.startswith("outputs:") for b in op.backpressure):
            continue
        queued = op.queued_blocks
        if not queued:
            continue
        if best is None or (queued, index) > best[:2]:
            best = (queued, index, op)
    if best is None:
        return None
    queued, _, op = best
    return Bottleneck(label_of(ds, op_key(op)), _why(op, queued), op_key(op))


def _why(op: OperatorStats, queued: int) -> str:
    if not queued:  # credited as the branch a zip/join waits for (analysis.bottleneck)
        running = "" if op.tasks_running is None else f"{op.tasks_running} tasks running, "
        return running + "the operators after it wait for it"
    why = f"{queued} block{'s' if queued != 1 else ''} waiting at its input"
    if op.actors is not None and op.actors.idle == 0 and op.actors.running:
        why += ", every actor busy"
    return why


def series(history: Sequence[Snapshot], dataset_id: str, key: str,
           getter: Callable[[OperatorStats], T | None]) -> list[T | None]:
    """One value per snapshot (None where the operator or the value is missing)."""
    out: list[T | None] = []
    for snap in history:
        op = find_operator(snap.dataset(dataset_id), key)
        out.append(None if op is None else getter(op))
    return out


def rate_series(history: Sequence[Snapshot], dataset_id: str, key: str,
                attr: str = "rows_out") -> list[float | None]:
    """Per-interval rate of a cumulative operator counter, one value per snapshot."""
    raw: list[float | None] = series(history, dataset_id, key, lambda op: getattr(op, attr))
    out: list[float | None] = [None]
    for i in range(1, len(history)):
        a, b = raw[i - 1], raw[i]
        dt = history[i].t - history[i - 1].t
        out.append(None if a is None or b is None or dt <= 0 or b < a else (b - a) / dt)
    return out[: len(history)]


def source_problems(snap: Snapshot) -> list[tuple[str, str]]:
    """(source, status) for every source that is not ok."""
    return [(name, status) for name, status in sorted(snap.sources.items()) if status != "ok"]


def cluster_connected(snap: Snapshot) -> bool:
    status = snap.sources.get("cluster")
    return status is None or status == "ok"
