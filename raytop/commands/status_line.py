"""The one-line status that `raytop run --headless` and `raytop record` print on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from raytop.format import NA, fmt_bytes, fmt_count
from raytop.model import Snapshot, Suggestion


def lead_line(s: Suggestion) -> str:
    """A critical finding in one line: what, where, the fix."""
    where = f" · {s.operator}" if s.operator else ""
    return f"{s.severity.upper()} {s.rule}{where}: {s.title} → {s.fix}"


def status_line(snap: Snapshot, prev: Snapshot | None = None,
                lead: Suggestion | None = None) -> str:
    parts = [lead_line(lead)] if lead is not None and lead.severity == "critical" else []
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


def _advisor():
    try:
        from raytop.analysis.advisor import Advisor
    except Exception:  # noqa: BLE001 - no analysis: a status line without advice
        return None
    return Advisor()


class StatusPrinter:
    """A collector sink. On a TTY the line is redrawn in place; otherwise a plain line every few
    seconds, with no escape codes."""

    def __init__(self, stream: TextIO = sys.stderr, every_s: float = 5.0):
        self.stream = stream
        self.tty = stream.isatty()
        self.every_s = every_s
        self._prev: Snapshot | None = None
        self._last_print = 0.0
        self._advisor = _advisor()
        self._told: set = set()  # critical findings already printed on a line of their own

    def _lead(self, snap: Snapshot) -> Suggestion | None:
        """The advisor's first finding; a critical one (a failure leads) also gets its own line
        the first time it is seen, so it is not lost in a redrawn status line."""
        if self._advisor is None:
            return None
        try:
            active = self._advisor.update(snap)
        except Exception:  # noqa: BLE001 - the status line must go on without advice
            return None
        for s in active:
            key = (s.rule, s.dataset_id, s.op_id)
            if s.severity == "critical" and key not in self._told:
                self._told.add(key)
                self.stream.write(("\r\x1b[2K" if self.tty else "") + "raytop | " + lead_line(s) + "\n")
        return active[0] if active else None

    def snapshot(self, snap: Snapshot) -> None:
        line = status_line(snap, self._prev, self._lead(snap))
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
