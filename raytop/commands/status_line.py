"""The one-line status that `raytop run --headless` and `raytop record` print on stderr."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

from raytop.format import NA, fmt_bytes, fmt_count
from raytop.model import Snapshot


def status_line(snap: Snapshot, prev: Optional[Snapshot] = None) -> str:
    parts = []
    running = [d for d in snap.datasets if d.state == "RUNNING"]
    ds = running[-1] if running else (snap.datasets[-1] if snap.datasets else None)
    if ds is None:
        parts.append("no dataset yet")
    else:
        rate = ""
        if ds.rows_per_s is not None:
            rate = f" ({fmt_count(ds.rows_per_s)}/s)"
        elif prev is not None:
            pds = prev.dataset(ds.dataset_id)
            if pds and pds.rows_out is not None and ds.rows_out is not None and snap.t > prev.t:
                rate = f" ({fmt_count((ds.rows_out - pds.rows_out) / (snap.t - prev.t))}/s)"
        rows = fmt_count(ds.rows_out)
        total = f"/{fmt_count(ds.rows_total)}" if ds.rows_total else ""
        parts.append(f"{ds.dataset_id} {ds.state or NA} rows {rows}{total}{rate}")
        bp = [op.name for op in ds.operators if op.backpressure]
        if bp:
            parts.append("backpressured: " + ",".join(bp[:3]))
    store_used = sum(n.object_store.used_bytes or 0 for n in snap.nodes)
    store_cap = sum(n.object_store.capacity_bytes or 0 for n in snap.nodes)
    if any(n.object_store.capacity_bytes for n in snap.nodes):
        used = fmt_bytes(store_used) if any(n.object_store.used_bytes is not None for n in snap.nodes) else NA
        parts.append(f"store {used}/{fmt_bytes(store_cap)}")
    gpus = [g for n in snap.nodes for g in n.gpus if g.util_percent is not None]
    if gpus:
        parts.append("gpu " + " ".join(f"{g.util_percent:.0f}%" for g in gpus[:8]))
    bad = [f"{k}:{v.split(':')[0]}" for k, v in sorted(snap.sources.items()) if v != "ok"]
    if bad:
        parts.append("[" + " ".join(bad) + "]")
    return "raytop | " + " | ".join(parts)


class StatusPrinter:
    """A collector sink. On a TTY the line is redrawn in place; otherwise a plain line every few
    seconds, with no escape codes."""

    def __init__(self, stream: TextIO = sys.stderr, every_s: float = 5.0):
        self.stream = stream
        self.tty = stream.isatty()
        self.every_s = every_s
        self._prev: Optional[Snapshot] = None
        self._last_print = 0.0

    def snapshot(self, snap: Snapshot) -> None:
        line = status_line(snap, self._prev)
        self._prev = snap
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\x1b[2K" + line[: 200])
            self.stream.flush()
        elif now - self._last_print >= self.every_s:
            self._last_print = now
            self.stream.write(line + "\n")
            self.stream.flush()

    def event(self, ev) -> None:
        if ev.kind in ("dataset_finished", "dataset_failed", "gap", "job_exit", "probe_injected",
                       "inject_failed", "probe_reporting"):
            prefix = "\r\x1b[2K" if self.tty else ""
            self.stream.write(f"{prefix}raytop | {ev.kind}: {ev.message}\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
