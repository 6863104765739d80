"""A recording as a Chrome / Perfetto trace (the JSON trace event format ui.perfetto.dev opens).

Layout: one process per dataset, one thread per operator. On an operator's track, a slice while
it ran and one per backpressure span, named by policy (``tasks:ResourceBudget``). Counters per
operator (input queue blocks, rows/s), per GPU (utilisation, memory) and for the cluster (object
store used, spilled). Recorded events (dataset started / failed, gaps, probe injected, ...) are
instant events. Times are microseconds since the recording began (its first snapshot or event).

The file is written as it is built, a snapshot at a time: a day's recording need not fit in
memory as one JSON document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from raytop.model import DatasetStats, Event, OperatorStats, Snapshot, op_key, op_labels
from raytop.recording.reader import RecordingReader, print_skipped

CLUSTER_PID = 0  # the process holding cluster-wide counters and the recording's events
GIB = 1024 ** 3


class _Spans:
    """Open slices per (pid, tid, name): a slice closes when its condition stops holding."""

    def __init__(self) -> None:
        self._open: dict[tuple[int, int, str], float] = {}

    def update(self, key: tuple[int, int, str], active: bool, ts: float) -> dict | None:
        start = self._open.get(key)
        if active and start is None:
            self._open[key] = ts
        elif not active and start is not None:
            del self._open[key]
            return _slice(key, start, ts)
        return None

    def close_all(self, ts: float) -> list[dict]:
        out = [_slice(key, start, ts) for key, start in self._open.items()]
        self._open.clear()
        return out


def _slice(key: tuple[int, int, str], start: float, end: float) -> dict:
    pid, tid, name = key
    return {"ph": "X", "name": name, "cat": "operator", "pid": pid, "tid": tid,
            "ts": start, "dur": max(0.0, end - start)}


class TraceBuilder:
    """Turns snapshots and events into trace events, remembering the ids it gave out."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self._pids: dict[str, int] = {}
        self._tids: dict[tuple[int, str], int] = {}
        self._policies: dict[tuple[int, int], set] = {}  # backpressure policies seen per track
        self.spans = _Spans()

    def ts(self, t: float) -> float:
        return round((t - self.t0) * 1e6, 1)

    def _pid(self, ds: DatasetStats) -> tuple[int, list[dict]]:
        if ds.dataset_id in self._pids:
            return self._pids[ds.dataset_id], []
        pid = self._pids[ds.dataset_id] = len(self._pids) + 1
        return pid, [_meta("process_name", pid, 0, f"dataset {ds.dataset_id}")]

    def _tid(self, pid: int, key: str, label: str, sort: int | None = None
             ) -> tuple[int, list[dict]]:
        if (pid, key) in self._tids:
            return self._tids[(pid, key)], []
        tid = self._tids[(pid, key)] = len([k for k in self._tids if k[0] == pid]) + 1
        return tid, [_meta("thread_name", pid, tid, label),
                     _meta("thread_sort_index", pid, tid, tid * 100 if sort is None else sort,
                           key="sort_index")]

    def snapshot(self, snap: Snapshot) -> list[dict]:
        ts = self.ts(snap.t)
        out = self._cluster_counters(snap, ts)
        for ds in snap.datasets:
            out.extend(self._dataset(ds, ts))
        return out

    def _dataset(self, ds: DatasetStats, ts: float) -> list[dict]:
        pid, out = self._pid(ds)
        labels = op_labels(ds.operators)
        for op in ds.operators:
            out.extend(self._operator(op, pid, labels[op_key(op)], ts, ds.state))
        return out

    def _span(self, pid: int, key: str, label: str, name: str, active: bool,
              ts: float, sort: int | None = None) -> list[dict]:
        """The slice ``name`` on track ``key`` of the dataset, opened or closed at ``ts``."""
        tid, out = self._tid(pid, key, label, sort)
        closed = self.spans.update((pid, tid, name), active, ts)
        return out + ([closed] if closed else [])

    def _operator(self, op: OperatorStats, pid: int, label: str, ts: float,
                  ds_state: str | None) -> list[dict]:
        key = op_key(op)
        running = (op.state or ds_state) == "RUNNING"
        out = self._span(pid, key, label, "running", running, ts)
        tid = self._tids[(pid, key)]
        seen = self._policies.setdefault((pid, tid), set())
        seen.update(op.backpressure)
        for i, policy in enumerate(sorted(seen), start=1):  # a track each: spans may overlap
            out += self._span(pid, f"{key}|{policy}", f"{label} · backpressure {policy}",
                              policy, policy in op.backpressure, ts, sort=tid * 100 + i)
        counters = {"queued blocks": op.queued_blocks, "rows out": op.rows_out,
                    "rows/s": op.rows_per_s}
        values = {k: v for k, v in counters.items() if v is not None}
        if values:
            out.append({"ph": "C", "name": "operator", "pid": pid, "tid": tid, "ts": ts,
                        "args": values})
        return out

    def _cluster_counters(self, snap: Snapshot, ts: float) -> list[dict]:
        out = []
        used = [n.object_store.used_bytes for n in snap.nodes if n.object_store.used_bytes is not None]
        spilled = [n.object_store.spilled_bytes for n in snap.nodes
                   if n.object_store.spilled_bytes is not None]
        store = {}
        if used:
            store["used GiB"] = sum(used) / GIB
        if spilled:
            store["spilled GiB"] = sum(spilled) / GIB
        if store:
            out.append({"ph": "C", "name": "object store", "pid": CLUSTER_PID, "ts": ts,
                        "args": store})
        for node in snap.nodes:
            for gpu in node.gpus:
                args = {k: v for k, v in (("util %", gpu.util_percent),
                                          ("memory GiB", None if gpu.mem_used_bytes is None
                                           else gpu.mem_used_bytes / GIB)) if v is not None}
                if args:
                    out.append({"ph": "C", "name": f"GPU {gpu.index} @ {node.ip or node.node_id[:8]}",
                                "pid": CLUSTER_PID, "ts": ts, "args": args})
        return out

    def event(self, ev: Event) -> dict:
        pid = self._pids.get(ev.dataset_id or "", CLUSTER_PID)
        return {"ph": "i", "s": "p" if pid != CLUSTER_PID else "g", "name": ev.kind,
                "cat": "event", "pid": pid, "tid": 0, "ts": self.ts(ev.t),
                "args": {"message": ev.message}}


def _meta(kind: str, pid: int, tid: int, value: Any, key: str = "name") -> dict:
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": {key: value}}


def trace_events(snapshots: Iterable[Snapshot], events: list[Event]) -> Iterator[dict]:
    """Every trace event of a recording, in time order (events merged in)."""
    builder: TraceBuilder | None = None
    pending = sorted(events, key=lambda e: e.t)
    last_ts = 0.0
    for snap in snapshots:
        if builder is None:  # time 0: the first snapshot, or an event before it
            builder = TraceBuilder(min([snap.t] + [e.t for e in pending[:1]]))
            yield _meta("process_name", CLUSTER_PID, 0, "cluster")
        while pending and pending[0].t <= snap.t:
            yield builder.event(pending.pop(0))
        yield from builder.snapshot(snap)
        last_ts = builder.ts(snap.t)
    if builder is None:
        return
    for late in pending:
        yield builder.event(late)
    yield from builder.spans.close_all(last_ts)


def export_perfetto(reader: RecordingReader, out: TextIO) -> int:
    """Write the recording as one trace JSON document; returns the number of trace events."""
    out.write('{"displayTimeUnit": "ms", "otherData": {"generator": "raytop"}, "traceEvents": [\n')
    n = 0
    for ev in trace_events(reader.iter_snapshots(), reader.events()):
        out.write(("" if n == 0 else ",\n") + json.dumps(ev, separators=(",", ":"),
                                                          ensure_ascii=False, allow_nan=False))
        n += 1
    out.write("\n]}\n")
    print_skipped(reader)
    return n
