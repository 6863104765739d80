"""The collector: reads every source each interval on worker threads, merges their parts into one
frozen Snapshot and hands it to the sinks (recorder, TUI, advisor), all on its own thread.

A slow source does not stall the others: a read still running at the deadline is left to finish in
the background, its last good part is reused and the source is marked stale.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from raytop.merge import merge_parts
from raytop.model import OK, Event, Snapshot, absent, stale
from raytop.sources.base import Part, SourceAbsent

log = logging.getLogger(__name__)

SLOW_FACTOR = 0.8  # a source gets this share of the interval before it counts as slow
FINAL_WAIT_S = 0.3  # what sources get in the final collection when the session ends


class Collector:
    def __init__(self, sources: Sequence, *, interval: float = 1.0,
                 clock: Callable[[], float] = time.time):
        self.sources = list(sources)
        self.interval = float(interval)
        self.latest: Snapshot | None = None
        self._clock = clock
        self._sinks: list = []
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.sources)),
                                        thread_name_prefix="raytop-source")
        self._inflight: dict[str, Future] = {}
        self._last_part: dict[str, Part] = {}
        self._status: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # serialises tick() between the thread and callers
        self._dataset_events_seen: set = set()  # (kind, dataset_id): probe and stats both report them
        self._lost_since: dict[str, float] = {}  # source -> when it stopped answering

    # ---- sinks -------------------------------------------------------------------------
    def add_sink(self, sink) -> None:
        self._sinks.append(sink)

    def emit_event(self, ev: Event) -> None:
        for sink in list(self._sinks):
            try:
                sink.event(ev)
            except Exception:  # a broken sink must not stop the others
                log.exception("sink %r failed on event", sink)

    def _emit_snapshot(self, snap: Snapshot) -> None:
        for sink in list(self._sinks):
            try:
                sink.snapshot(snap)
            except Exception:
                log.exception("sink %r failed on snapshot", sink)

    # ---- one collection ------------------------------------------------------------------
    def tick(self, wait_s: float | None = None) -> Snapshot:
        """One collection; sources get ``wait_s`` (default: SLOW_FACTOR of the interval)."""
        with self._lock:
            return self._tick(wait_s)

    def _tick(self, wait_s: float | None = None) -> Snapshot:
        started = time.monotonic()
        for src in self.sources:
            if src.name not in self._inflight:
                self._inflight[src.name] = self._pool.submit(src.read)
        deadline = started + (wait_s if wait_s is not None else max(0.05, self.interval * SLOW_FACTOR))
        parts: list[Part] = []
        events: list[Event] = []
        for src in self.sources:
            fut = self._inflight[src.name]
            remaining = deadline - time.monotonic()
            try:
                part = fut.result(timeout=max(0.0, remaining))
            except TimeoutError:
                self._set_status(src.name, stale(f"read slower than {deadline - started:.1f}s"))
                if src.name in self._last_part:
                    parts.append(_without_events(self._last_part[src.name]))
                continue
            except SourceAbsent as e:
                del self._inflight[src.name]
                self._last_part.pop(src.name, None)
                self._set_status(src.name, absent(str(e) or "not available"))
                continue
            except Exception as e:  # noqa: BLE001 - any failure of a source is "stale"
                del self._inflight[src.name]
                self._set_status(src.name, stale(f"{type(e).__name__}: {e}"[:200]))
                if src.name in self._last_part:
                    parts.append(_without_events(self._last_part[src.name]))
                continue
            del self._inflight[src.name]
            self._last_part[src.name] = part
            self._set_status(src.name, OK)
            parts.append(part)
            events.extend(part.events)
        snap = merge_parts(self._clock(), parts, dict(self._status))
        for ev in events:
            if ev.dataset_id and ev.kind.startswith("dataset_"):
                key = (ev.kind, ev.dataset_id)
                if key in self._dataset_events_seen:
                    continue
                self._dataset_events_seen.add(key)
            self.emit_event(ev)
        prev = self.latest
        if prev is not None and snap.t - prev.t > max(3 * self.interval, self.interval + 2):
            self.emit_event(Event(t=snap.t, kind="gap",
                                  message=f"no snapshot for {snap.t - prev.t:.1f}s",
                                  data={"from": prev.t, "to": snap.t}))
        self.latest = snap
        self._emit_snapshot(snap)
        return snap

    def _set_status(self, name: str, status: str) -> None:
        old = self._status.get(name)
        self._status[name] = status
        now = self._clock()
        if old is not None and old != status and not status.startswith(OK):
            self.emit_event(Event(t=now, kind="source_error",
                                  message=f"{name}: {status}", data={"source": name}))
        if old == OK and status != OK:
            self._lost_since[name] = now
        elif status == OK and name in self._lost_since:
            # A source that worked, stopped (e.g. the cluster went away) and works again: the
            # recording has a hole in its readings; say where. One slow read is not a hole.
            since = self._lost_since.pop(name)
            if now - since < max(2 * self.interval, 2.0):
                return
            self.emit_event(Event(t=now, kind="gap",
                                  message=f"{name} readings missing for {now - since:.1f}s",
                                  data={"source": name, "from": since, "to": now}))

    # ---- thread --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="raytop-collector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_due = time.monotonic()
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the loop must survive anything
                log.exception("collector tick failed")
            next_due += self.interval
            now = time.monotonic()
            if next_due < now:  # fell behind: skip missed ticks rather than burst
                next_due = now + self.interval
            self._stop.wait(next_due - now)

    def stop(self, final_tick: bool = False) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
            self._thread = None
        if final_tick:
            try:
                # The last word usually comes from the probe (already received); sources that
                # need the cluster are likely gone by now and get little time.
                self.tick(wait_s=FINAL_WAIT_S)
            except Exception:
                log.exception("final tick failed")
        self._pool.shutdown(wait=False, cancel_futures=True)
        for src in self.sources:
            try:
                src.close()
            except Exception:
                log.exception("closing source %s failed", getattr(src, "name", src))


def _without_events(part: Part) -> Part:
    return replace(part, events=()) if part.events else part
