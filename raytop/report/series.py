"""Time series for the report's charts, read from a recording's snapshots.

Every series shares the recording's time axis (seconds since the first snapshot); a reading that
is missing is NaN, so a chart shows a gap instead of a made-up zero. Long series are thinned to
about 600 points keeping each bucket's min and max, so spikes survive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from raytop.model import Snapshot, op_key, op_labels
from raytop.report.history import History

GIB = float(1 << 30)
MAX_POINTS = 600
OPERATOR_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                    "#bcbd22", "#7f7f7f", "#aec7e8", "#98df8a")
FIXED_COLOURS = {"used": "#1f77b4", "spilled": "#d62728", "capacity": "#7f7f7f",
                 "all Ray workers": "#7f7f7f"}
RATE_WINDOW_S = 5.0  # throughput is a trailing average: rows_out grows in block-sized steps


@dataclass(frozen=True)
class Series:
    label: str
    t: np.ndarray
    y: np.ndarray
    dashed: bool = False
    colour: str | None = None  # an operator keeps its colour across charts


@dataclass(frozen=True)
class Spans:
    """Backpressure: per operator, per policy flag, (start, width) spans in elapsed seconds."""

    rows: tuple[tuple[str, dict[str, list[tuple[float, float]]]], ...]


@dataclass(frozen=True)
class Chart:
    key: str  # file-name safe, e.g. "gpu_util"
    title: str
    ylabel: str
    series: tuple[Series, ...] = ()
    spans: Spans | None = None
    ymax: float | None = None
    note: str = ""  # why the chart is empty, shown instead of it
    span_s: float = 0.0  # length of the time axis

    @property
    def empty(self) -> bool:
        if self.spans is not None:
            return not any(policies for _, policies in self.spans.rows)
        return not any(np.isfinite(s.y).any() for s in self.series)


def minmax_downsample(t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: each bucket keeps its min and max, in time order."""
    n = len(t)
    if n <= max_points:
        return t, y
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep: list[int] = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi <= lo:
            continue
        chunk = y[lo:hi]
        finite = np.isfinite(chunk)
        if not finite.any():
            keep.append(lo)  # a NaN keeps the gap visible
            continue
        masked_min = np.where(finite, chunk, np.inf)
        masked_max = np.where(finite, chunk, -np.inf)
        a, b = lo + int(np.argmin(masked_min)), lo + int(np.argmax(masked_max))
        keep.extend(sorted({a, b}))
    idx = np.array(keep, dtype=int)
    return t[idx], y[idx]


class _Table:
    """Named series over a shared time axis, created NaN-filled on first use."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.data: dict[str, np.ndarray] = {}

    def set(self, label: str, i: int, v) -> None:
        if v is None:
            return
        arr = self.data.get(label)
        if arr is None:
            arr = self.data[label] = np.full(self.n, np.nan)
        arr[i] = v

    def add(self, label: str, i: int, v) -> None:
        if v is None:
            return
        arr = self.data.get(label)
        if arr is None:
            arr = self.data[label] = np.full(self.n, np.nan)
        arr[i] = v if np.isnan(arr[i]) else arr[i] + v


def _trailing_rate(t: np.ndarray, rows: np.ndarray, window_s: float) -> np.ndarray:
    out = np.full(len(t), np.nan)
    j = 0
    for i in range(1, len(t)):
        while j < i - 1 and t[i] - t[j + 1] >= window_s:
            j += 1
        if not np.isfinite(rows[i]):
            continue
        k = j
        while k < i and not np.isfinite(rows[k]):  # the operator appeared inside the window
            k += 1
        if k == i:
            continue
        dt, dr = t[i] - t[k], rows[i] - rows[k]
        if dt > 0 and dr >= 0:
            out[i] = dr / dt
    return out


def _spans(t: np.ndarray, active: np.ndarray, step: float) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for i in np.flatnonzero(active):
        start = t[i]
        end = t[i + 1] if i + 1 < len(t) else t[i] + step
        if spans and abs(spans[-1][0] + spans[-1][1] - start) < 1e-9:
            spans[-1] = (spans[-1][0], end - spans[-1][0])
        else:
            spans.append((start, end - start))
    return spans


@dataclasses.dataclass
class _Tables:
    """The per-snapshot readings the charts draw, one row per series label."""

    n: int
    gpu_util: _Table
    gpu_mem: _Table
    store: _Table
    heap: _Table
    rows: _Table
    measured_rates: _Table  # rows/s a source measured itself (probe-free: Ray's refreshes)
    queues: _Table
    flags: dict[str, dict[str, np.ndarray]]
    gpu_total: dict[str, float]
    gpu_reasons: set

    @classmethod
    def empty(cls, n: int) -> _Tables:
        return cls(n, _Table(n), _Table(n), _Table(n), _Table(n), _Table(n), _Table(n), _Table(n),
                   flags={}, gpu_total={}, gpu_reasons=set())


def _collect(snaps: Sequence[Snapshot]) -> _Tables:
    tables = _Tables.empty(len(snaps))
    multi_node = len({node.node_id for s in snaps for node in s.nodes}) > 1
    multi_ds = len({d.dataset_id for s in snaps for d in s.datasets}) > 1
    for i, snap in enumerate(snaps):
        for node in snap.nodes:
            _collect_node(tables, i, node, multi_node)
        for ds in snap.datasets:
            _collect_dataset(tables, i, ds, multi_ds)
    return tables


def _collect_node(tables: _Tables, i: int, node, multi_node: bool) -> None:
    if node.gpu_source and not node.gpus:
        tables.gpu_reasons.add(node.gpu_source)
    for gpu in node.gpus:
        label = f"GPU {gpu.index}" + (f" @ {node.ip or node.node_id[:8]}" if multi_node else "")
        tables.gpu_util.set(label, i, gpu.util_percent)
        tables.gpu_mem.set(label, i, None if gpu.mem_used_bytes is None else gpu.mem_used_bytes / GIB)
        if gpu.mem_total_bytes:
            tables.gpu_total[label] = gpu.mem_total_bytes / GIB
    tables.store.add("used", i, _gib(node.object_store.used_bytes))
    tables.store.add("spilled", i, _gib(node.object_store.spilled_bytes))
    tables.store.add("capacity", i, _gib(node.object_store.capacity_bytes))
    tables.heap.add("all Ray workers", i, _gib(node.heap_bytes))


def _collect_dataset(tables: _Tables, i: int, ds, multi_ds: bool) -> None:
    labels = op_labels(ds.operators)  # one series per operator: "#index" on shared names
    for op in ds.operators:
        name = labels[op_key(op)]
        label = f"{ds.dataset_id}: {name}" if multi_ds else name
        tables.heap.set(label, i, _gib(op.heap_bytes))
        tables.rows.set(label, i, op.rows_processed)  # a write's: the rows it received
        tables.measured_rates.set(label, i, op.rows_per_s)
        tables.queues.set(label, i, op.input_queue_blocks)
        for flag in op.backpressure:  # only operators ever backpressured get a row
            tables.flags.setdefault(label, {}).setdefault(
                flag, np.zeros(tables.n, dtype=bool))[i] = True


def _rates(t: np.ndarray, tables: _Tables) -> _Table:
    """Rows/s per operator: measured by the source where it did, else a trailing average."""
    rates = _Table(tables.n)
    for label, y in tables.rows.data.items():
        measured = tables.measured_rates.data.get(label)
        if measured is not None and np.isfinite(measured).any():
            rates.data[label] = measured
        else:
            rates.data[label] = _trailing_rate(t, y, RATE_WINDOW_S)
    return rates


def build_charts(history: History) -> list[Chart]:
    snaps = history.snapshots
    n = len(snaps)
    t = np.array([s.t - snaps[0].t for s in snaps], dtype=float)
    step = float(np.median(np.diff(t))) if n > 1 else 1.0
    tables = _collect(snaps)
    op_colour = {label: OPERATOR_COLOURS[i % len(OPERATOR_COLOURS)] for i, label in
                 enumerate(_ordered(tables.rows, tables.queues, tables.heap, tables.flags))}

    def series(table: _Table, dashed=()) -> tuple[Series, ...]:
        return tuple(Series(label, *minmax_downsample(t, y), dashed=label in dashed,
                            colour=op_colour.get(label) or FIXED_COLOURS.get(label))
                     for label, y in table.data.items() if np.isfinite(y).any())

    reasons = tables.gpu_reasons
    no_gpu = ("No GPU readings in this recording"
              + (f" ({'; '.join(sorted(reasons))})" if reasons else "") + ".")
    end = float(t[-1]) if n else 0.0
    span_rows = tuple((label, {flag: _merge_for_drawing(_spans(t, active, step), end)
                               for flag, active in sorted(per.items())})
                      for label, per in tables.flags.items())
    gpu_total = tables.gpu_total
    charts = [
        Chart("gpu_util", "GPU utilisation per GPU", "%", series(tables.gpu_util), ymax=100.0,
              note=no_gpu),
        Chart("gpu_mem", "GPU memory used per GPU", "GiB", series(tables.gpu_mem),
              ymax=max(gpu_total.values()) if gpu_total else None, note=no_gpu),
        Chart("object_store", "Object store: used and spilled (all nodes)", "GiB",
              series(tables.store, dashed=("capacity",)), note="No object store readings."),
        Chart("heap", "Worker heap per operator (USS, else RSS)", "GiB",
              series(tables.heap, dashed=("all Ray workers",)), note="No worker memory readings."),
        Chart("throughput", f"Throughput per operator (rows/s, {RATE_WINDOW_S:.0f} s average)",
              "rows/s", series(_rates(t, tables)), note="No operator row counts."),
        Chart("queues", "Input queue depth per operator", "blocks", series(tables.queues),
              note="No queue readings (needs the probe)."),
        Chart("backpressure", "Backpressure spans per operator, by policy", "",
              spans=Spans(span_rows), note="No operator was backpressured."),
    ]
    return [dataclasses.replace(c, span_s=end) for c in charts]


def _ordered(*tables) -> list[str]:
    """Operator labels in order of first appearance over the given tables."""
    seen: dict[str, None] = {}
    for table in tables:
        for label in (table.data if isinstance(table, _Table) else table):
            if label not in FIXED_COLOURS:
                seen.setdefault(label, None)
    return list(seen)


def _gib(v) -> float | None:
    return None if v is None else v / GIB


def _merge_for_drawing(spans: list[tuple[float, float]], total: float):
    """Join spans closer than ~1/1500 of the run: narrower than a pixel, and it keeps SVGs small."""
    tol = max(total, 1.0) / 1500.0
    out: list[tuple[float, float]] = []
    for start, width in spans:
        if out and start - (out[-1][0] + out[-1][1]) <= tol:
            out[-1] = (out[-1][0], start + width - out[-1][0])
        else:
            out.append((start, width))
    return out
