"""When and into which drivers an attach session loads the probe, and what it tells the user.

A collector sink: with ``--inject`` it loads the probe into every Ray Data driver of the watched
cluster that runs on this node and can be traced (each once), or only into ``--pid``; the TUI
asks for one driver with ``inject_now``. Each attempt becomes an event: ``probe_injected`` with
the time it took, or ``inject_failed`` with the one-line reason. The first snapshot in which the
injected probe's figures and plan arrive gives ``probe_reporting`` with the time since the
request: the "time to the first full snapshot".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from raytop.attach.inject import InjectError, inject
from raytop.attach.levels import INJECTABLE, PROBE
from raytop.errors import BadInput
from raytop.model import DriverInfo, Event, Snapshot


class NotADriver(BadInput):
    """``--pid`` does not name a driver of the watched cluster (bad input, exit 2)."""


def check_requested_pid(pid: int, drivers: Sequence[DriverInfo], address: str | None) -> None:
    from raytop.channel import pid_alive

    if not pid_alive(pid):
        raise NotADriver(f"no process {pid}")
    if all(d.pid != pid for d in drivers):
        alive = ", ".join(str(d.pid) for d in drivers) or "none"
        raise NotADriver(f"pid {pid} is not a Ray driver of the cluster at {address} "
                         f"(its drivers: {alive})")


def _running(snap: Snapshot, drv: DriverInfo) -> bool:
    return any(d.state in ("RUNNING", "PENDING") for d in snap.datasets
               if d.dataset_id in drv.datasets)


class Injector:
    def __init__(self, channel_for: Callable[[int], Path],
                 wait_for_hello: Callable[[int, str, float], bool],
                 emit: Callable[[Event], None], *, auto: bool = False,
                 pid: int | None = None) -> None:
        self._channel_for = channel_for
        self._wait_for_hello = wait_for_hello
        self._emit = emit
        self._auto = auto or pid is not None
        self._pid = pid
        self._lock = threading.Lock()
        self._tried: dict[int, float] = {}  # pid -> when the injection was requested
        self._reporting: set = set()

    # ---- collector sink ----
    def snapshot(self, snap: Snapshot) -> None:
        self._note_first_reports(snap)
        if not self._auto:
            return
        for drv in snap.drivers:
            if drv.pid in self._tried or not self._wanted(snap, drv):
                continue
            if drv.level == INJECTABLE:
                self._start(drv.pid)
            elif drv.level != PROBE:
                self._tried[drv.pid] = time.monotonic()
                self._emit(_failed(drv.pid, drv.why or "it cannot be traced from here"))

    def event(self, ev: Event) -> None:
        pass

    # ---- on request (the TUI) ----
    def inject_now(self, pid: int) -> Event:
        """Load the probe into ``pid`` now (blocking, for a worker thread); the outcome event."""
        with self._lock:
            self._tried[pid] = time.monotonic()
        return self._attempt(pid)

    # ---- internals ----
    def _wanted(self, snap: Snapshot, drv: DriverInfo) -> bool:
        if self._pid is not None:
            return drv.pid == self._pid
        return _running(snap, drv)

    def _start(self, pid: int) -> None:
        with self._lock:
            if pid in self._tried:
                return
            self._tried[pid] = time.monotonic()
        threading.Thread(target=self._attempt, args=(pid,), name=f"raytop-inject-{pid}",
                         daemon=True).start()

    def _attempt(self, pid: int) -> Event:
        try:
            outcome = inject(pid, self._channel_for, self._wait_for_hello)
        except InjectError as e:
            ev = _failed(pid, str(e))
        except Exception as e:  # noqa: BLE001 - a bug here must not end the session
            ev = _failed(pid, f"{type(e).__name__}: {e}")
        else:
            ev = Event(t=time.time(), kind="probe_injected",
                       message=f"probe loaded into pid {pid} in {outcome.seconds:.1f}s "
                               f"({outcome.method})",
                       data={"pid": pid, "seconds": round(outcome.seconds, 3),
                             "method": outcome.method})
        self._emit(ev)
        return ev

    def _note_first_reports(self, snap: Snapshot) -> None:
        for d in snap.datasets:
            pid = d.driver_pid
            if (d.probe == "injected" and d.plan is not None and pid in self._tried
                    and pid not in self._reporting):
                self._reporting.add(pid)
                seconds = time.monotonic() - self._tried[pid]
                self._emit(Event(t=snap.t, kind="probe_reporting", dataset_id=d.dataset_id,
                                 message=f"full figures and plan from pid {pid} "
                                         f"{seconds:.1f}s after the request",
                                 data={"pid": pid, "seconds": round(seconds, 3)}))


def _failed(pid: int, why: str) -> Event:
    return Event(t=time.time(), kind="inject_failed",
                 message=f"cannot load the probe into pid {pid}: {why}",
                 data={"pid": pid, "why": why})
