"""The probe source: what probes inside Ray drivers report over this user's channel.

Binds a listener when constructed; keeps the latest ``DatasetStats`` per dataset and turns start /
finish / failure into events. A small thread drains the socket as datagrams arrive, because Linux
queues only ``net.unix.max_dgram_qlen`` (often 10) datagrams per socket: waiting for the next
``read`` would lose reports when several datasets run at once.
"""

from __future__ import annotations

import functools
import json
import os
import re
import select
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from raytop.channel import ENV_DIR, ChannelError, Listener, pid_alive, private_dir
from raytop.model import DatasetStats, Event, from_dict
from raytop.redact import redact_plan
from raytop.sources.base import Part, SourceAbsent

NO_PROBE = ("no probe has reported: start the job under `raytop run` or with "
            "RAY_DATA_EXECUTION_CALLBACKS=raytop.probe.RaytopProbe")
KEEP_ENDED = 20  # finished/failed datasets kept, newest last
MAX_PENDING_EVENTS = 1000  # when nobody reads for a long time, the oldest events go
HELLO_FRESH_S = 10.0  # an injected probe that said hello this recently is there
_ENDED = ("FINISHED", "FAILED")
_STATES = ("PENDING", "RUNNING", "FINISHED", "FAILED", None)
_EVENT_KINDS = {"started": "dataset_started", "finished": "dataset_finished",
                "failed": "dataset_failed"}
_REPORT_KINDS = ("started", "joined", "step", "finished", "failed")
_PID_FIELD = re.compile(rb'"pid": ?(\d+)[,}]')  # the whole number, never one cut at the window


class ProbeSource:
    name = "probe"

    def __init__(self, *, pids: Iterable[int] | None = None, dataset_id: str | None = None,
                 directory: Path | None = None, cluster: str | None = None):
        self._pids = None if pids is None else {int(p) for p in pids}
        self._cluster = cluster  # GCS address: reports from drivers of other clusters are dropped
        self._dataset_id = dataset_id
        self.fallback_note: str | None = None  # why raytop listens somewhere unusual
        self._listener = self._main_listener(directory)
        self._listeners: list[Listener] = [self._listener]
        self._by_owner: dict[int, Listener] = {os.geteuid(): self._listener}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._datasets: OrderedDict[str, DatasetStats] = OrderedDict()
        self._pid_of: dict[str, int] = {}
        self._probe_of: dict[int, str] = {}  # driver pid -> "env" | "injected"
        self._hellos: dict[int, tuple[float, str]] = {}  # pid -> (when, token) of injected probes
        self._events: list[Event] = []
        self._address: str | None = None
        self._ray_version: str | None = None
        self._heard = False
        self._closed = threading.Event()
        self._pump = threading.Thread(target=self._pump_loop, name="raytop-probe-listener",
                                      daemon=True)
        self._pump.start()

    def watch_pid(self, pid: int) -> None:
        """Also accept messages from this driver pid (``raytop run`` learns it after binding)."""
        with self._lock:
            self._pids = (self._pids or set()) | {int(pid)}

    @property
    def address(self) -> str | None:
        return self._address

    @property
    def ray_version(self) -> str | None:
        return self._ray_version

    @property
    def socket_path(self) -> Path:
        return self._listener.path

    def _main_listener(self, directory: Path | None) -> Listener:
        try:
            return Listener(directory)
        except ChannelError as e:
            if directory is not None or os.environ.get(ENV_DIR):
                raise  # a directory the user chose: their call to fix
            reason = str(e)
        # The usual directory is unusable (another user made it first, say): listen privately.
        fallback = Listener(private_dir())
        self.fallback_note = (f"{reason}; listening in {fallback.directory} instead: jobs started with "
                              "the probe elsewhere cannot reach this raytop (set XDG_RUNTIME_DIR "
                              f"or {ENV_DIR})")
        return fallback

    def channel_for(self, uid: int) -> Path:
        """The channel a probe running as ``uid`` reports to: this raytop's own, or (a root
        raytop loading the probe into another user's driver) one owned by that user."""
        with self._lock:
            listener = self._by_owner.get(uid)
            if listener is None:
                directory = private_dir()
                os.chown(directory, uid, -1)
                listener = Listener(directory, owner=uid)
                self._by_owner[uid] = listener
                self._listeners.append(listener)
            return listener.directory

    def read(self) -> Part:
        with self._lock:
            self._drain()
            self._expire_dead_drivers()
            if not self._heard:
                raise SourceAbsent(NO_PROBE)
            events, self._events = tuple(self._events), []
            return Part(datasets=tuple(self._datasets.values()), address=self._address,
                        ray_version=self._ray_version, events=events,
                        probe_pids=self._present_probes())

    def wait_for_hello(self, pid: int, token: str, timeout: float) -> bool:
        """Block until the probe injected into ``pid`` with ``token`` says hello."""
        with self._changed:
            self._drain()
            return self._changed.wait_for(
                lambda: self._hellos.get(pid, (0.0, ""))[1] == token or self._closed.is_set(),
                max(0.0, timeout)) and self._hellos.get(pid, (0.0, ""))[1] == token

    def wait_for_dataset(self, pid: int, timeout: float) -> bool:
        """Block until a probe in ``pid`` has reported a dataset with its plan."""
        def reported() -> bool:
            return any(self._pid_of.get(k) == pid and d.plan is not None
                       for k, d in self._datasets.items())

        with self._changed:
            self._drain()
            return self._changed.wait_for(lambda: reported() or self._closed.is_set(),
                                          max(0.0, timeout)) and reported()

    def _present_probes(self) -> dict[int, str]:
        now = time.monotonic()
        present = {pid: kind for pid, kind in self._probe_of.items() if pid_alive(pid)}
        for pid, (at, _) in self._hellos.items():
            if now - at <= HELLO_FRESH_S:
                present[pid] = "injected"
        return present

    def wait_for_address(self, timeout: float) -> str | None:
        """Block until a probe has reported the cluster address, at most ``timeout`` seconds."""
        with self._changed:
            self._drain()
            self._changed.wait_for(lambda: self._address or self._closed.is_set(),
                                   max(0.0, timeout))
            return self._address

    def close(self) -> None:
        self._closed.set()
        with self._changed:
            self._changed.notify_all()
        if self._pump.is_alive() and self._pump is not threading.current_thread():
            self._pump.join(5)
        for listener in self._listeners:
            listener.close()
            if listener is not self._listener:
                _remove_quietly(listener.directory)

    def _pump_loop(self) -> None:
        while not self._closed.is_set():
            fds = [listener.fileno() for listener in list(self._listeners)]
            try:
                ready, _, _ = select.select(fds, [], [], 0.25)
            except (OSError, ValueError):
                return
            if ready and not self._closed.is_set():
                with self._changed:
                    self._drain()

    # ---- internals (called with the lock held) ----

    def _drain(self) -> None:
        for raw in [m for listener in self._listeners for m in listener.drain()]:
            if self._foreign(raw):
                continue
            try:
                self._accept(json.loads(raw))
            except Exception:  # noqa: BLE001 - a garbled or foreign datagram: ignore it
                continue

    def _foreign(self, raw: bytes) -> bool:
        """A report from a driver this source does not watch, told from the pid a probe writes
        near the start (``{"v":1,"pid":N,...``) without decoding the rest: every raytop of this
        user gets every probe's datagrams, and decoding them costs ~1 ms each."""
        if self._pids is None:
            return False
        m = _PID_FIELD.search(raw, 0, 96)
        return m is not None and int(m.group(1)) not in self._pids

    def _accept(self, msg: dict) -> None:
        if not isinstance(msg, dict) or msg.get("v") != 1:
            return
        pid = msg.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            return  # every report names its driver; without one it could never expire
        if self._pids is not None and pid not in self._pids:
            return
        if not same_cluster(self._cluster, msg.get("address")):
            return  # every raytop of this user hears every probe: a job of another cluster
        if msg.get("kind") == "hello":
            self._hello(pid, msg)
            return
        incoming = _valid_dataset(msg)
        if incoming is None:
            return
        if self._dataset_id is not None and incoming.dataset_id != self._dataset_id:
            return
        self._heard = True
        if isinstance(msg.get("address"), str) and msg["address"]:
            self._address = msg["address"]
            self._changed.notify_all()
        if isinstance(msg.get("ray_version"), str) and msg["ray_version"]:
            self._ray_version = msg["ray_version"]
        self._probe_of[pid] = "injected" if msg.get("probe") == "injected" else "env"
        self._store(incoming, msg, pid)

    def _hello(self, pid: int, msg: dict) -> None:
        token = msg.get("token")
        self._hellos[pid] = (time.monotonic(), token if isinstance(token, str) else "")
        self._heard = True
        self._changed.notify_all()

    def _store(self, incoming: DatasetStats, msg: dict, pid: int) -> None:
        known = self._datasets.get(incoming.dataset_id)
        if known is not None and incoming.plan is None and known.plan is not None:
            incoming = replace(incoming, plan=known.plan)
        if known is not None and known.state in _ENDED and incoming.state not in _ENDED:
            return  # a late step datagram after the final one
        incoming = replace(incoming, driver_pid=pid)
        self._pid_of[incoming.dataset_id] = pid
        self._datasets.pop(incoming.dataset_id, None)
        self._datasets[incoming.dataset_id] = incoming  # newest last
        self._changed.notify_all()
        kind = _EVENT_KINDS.get(msg.get("kind", ""))
        if kind is not None:
            self._events.append(_event(kind, incoming, _float(msg.get("t")), pid))
            del self._events[:-MAX_PENDING_EVENTS]
        self._trim()

    def _trim(self) -> None:
        ended = [k for k, d in self._datasets.items() if d.state in _ENDED]
        for k in ended[:max(0, len(ended) - KEEP_ENDED)]:
            del self._datasets[k]
            self._pid_of.pop(k, None)

    def _expire_dead_drivers(self) -> None:
        """A running dataset whose driver process is gone will never report its end."""
        for key, ds in list(self._datasets.items()):
            pid = self._pid_of.get(key)
            if ds.state in _ENDED or pid is None or pid_alive(pid):
                continue
            error = f"driver process {pid} exited before the dataset finished"
            ended = replace(ds, state="FAILED", error=error, end_time=time.time())
            self._datasets[key] = ended
            self._events.append(_event("dataset_failed", ended, None, pid))
        self._trim()


def _remove_quietly(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _split_address(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), port


@functools.lru_cache(maxsize=64)
def _is_this_machine(host: str) -> bool:
    """(Cached: asked for every datagram whose host differs from the watched address's.)"""
    if host in ("localhost", "127.0.0.1", "::1") or host.startswith("127."):
        return True
    try:
        import psutil

        return any(a.address == host for addrs in psutil.net_if_addrs().values() for a in addrs)
    except Exception:  # noqa: BLE001 - unknown: not this machine
        return False


def same_cluster(watched: str | None, reported: Any) -> bool:
    """Whether a probe's GCS address is the cluster raytop watches: True when either is
    unknown; the same port and host, or the same port on two names of this machine."""
    if not watched or not isinstance(reported, str) or not reported:
        return True
    (h1, p1), (h2, p2) = _split_address(watched), _split_address(reported)
    if p1 != p2:
        return False
    return h1 == h2 or (_is_this_machine(h1) and _is_this_machine(h2))


def _valid_dataset(msg: dict) -> DatasetStats | None:
    """The report's dataset, or None when it is not the shape a probe sends (a datagram from
    something else, or a broken one): such data must not reach a status line or the advisor."""
    raw = msg.get("dataset")
    if msg.get("kind") not in _REPORT_KINDS or not isinstance(raw, dict):
        return None
    if not isinstance(raw.get("dataset_id"), str) or not raw["dataset_id"]:
        return None
    if raw.get("state") not in _STATES or not isinstance(raw.get("operators", []), list):
        return None
    if not all(isinstance(o, dict) and isinstance(o.get("name"), str)
               for o in raw.get("operators", [])):
        return None
    try:
        ds = from_dict(DatasetStats, raw)
    except (TypeError, ValueError):
        return None
    return replace(ds, plan=redact_plan(ds.plan)) if ds.plan is not None else ds


def _float(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _event(kind: str, ds: DatasetStats, t: float | None, pid) -> Event:
    if kind == "dataset_started":
        message = f"dataset {ds.dataset_id} started"
    elif kind == "dataset_finished":
        rows = f", {ds.rows_out} rows out" if ds.rows_out is not None else ""
        message = f"dataset {ds.dataset_id} finished{rows}"
    else:
        message = f"dataset {ds.dataset_id} failed: {ds.error or 'unknown error'}"
    data = {"pid": pid, "job_id": ds.job_id}
    if ds.error:
        data["error"] = ds.error
    return Event(t=t if t is not None else time.time(), kind=kind, message=message,
                 dataset_id=ds.dataset_id, data=data)
