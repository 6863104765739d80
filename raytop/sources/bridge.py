"""The Ray connection lives in a child process, never in raytop itself.

A Ray driver's core worker ends its own process when the cluster goes away (raylet death, GCS
unreachable past its timeout). raytop must outlive the clusters it watches, so the sources that
need ``ray.init`` (cluster, stats, processes) run in a bridge process and answer over a pipe. If
the bridge dies, reads fail (the source is "stale") and the bridge is restarted with backoff.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from raytop.errors import RaytopError
from raytop.sources.base import NeedsDriver, Part, Source, SourceAbsent

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 10.0
BACKOFF_S = (1, 2, 5, 10, 30)

# name -> "module:Class"; imported only inside the bridge process.
BRIDGED_SOURCES = {
    "cluster": "raytop.sources.cluster:ClusterSource",
    "stats": "raytop.sources.stats:StatsSource",
    "processes": "raytop.sources.processes:ProcessSource",
    "samplers": "raytop.sources.sampler:SamplerSource",  # other nodes, through sampler actors
    "drivers": "raytop.sources.drivers:DriversSource",  # the job table: driver pids and nodes
}


class BridgeError(RaytopError):
    pass


class RayBridge:
    """Owns the bridge process; restarts it with backoff after it dies."""

    def __init__(self, address: str | None, source_names: Sequence[str]):
        self.address = address
        self.source_names = list(source_names)
        self.info: dict[str, str] = {}
        self._lock = threading.Lock()
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._pending: dict[int, queue.Queue] = {}
        self._ids = itertools.count()
        self._failures = 0
        self._next_try = 0.0
        self._last_error: str | None = None
        self._closed = False
        self._closing = threading.Event()  # set without the lock: a connect in progress gives up

    # ---- lifecycle ------------------------------------------------------------------------
    def connect(self, timeout: float = CONNECT_TIMEOUT_S) -> dict[str, str]:
        """Start the bridge and wait for its ``ray.init``; raises BridgeError with one line."""
        with self._lock:
            return self._start(timeout)

    def _start(self, timeout: float) -> dict[str, str]:
        _start_resource_tracker()
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_bridge_main, args=(child, self.address, self.source_names),
                           name="raytop-ray-bridge", daemon=True)
        proc.start()
        child.close()
        if not self._answered(parent, timeout):
            proc.kill()
            if self._closing.is_set():
                raise BridgeError("closed")
            raise BridgeError(f"no answer from the Ray cluster at {self.address} within {timeout:.0f}s")
        try:
            kind, payload = parent.recv()
        except (EOFError, OSError) as e:
            proc.join(1)
            raise BridgeError(f"the connection to the Ray cluster at {self.address} failed "
                              f"(bridge exited with code {proc.exitcode})") from e
        if kind != "connected":
            proc.join(1)
            raise BridgeError(str(payload))
        self._proc, self._conn, self.info = proc, parent, dict(payload)
        self._failures = 0
        threading.Thread(target=self._receive, args=(parent,), name="raytop-bridge-rx",
                         daemon=True).start()
        return self.info

    def _answered(self, conn: Connection, timeout: float) -> bool:
        """Whether the bridge answered within ``timeout``; False at once when the bridge is
        being closed (at the end of `raytop run` a reconnect to the script's cluster, gone with
        the script, held the close for the whole timeout)."""
        deadline = time.monotonic() + timeout
        while not self._closing.is_set():
            if conn.poll(min(0.2, max(0.0, deadline - time.monotonic()))):
                return True
            if time.monotonic() >= deadline:
                return False
        return False

    def _receive(self, conn) -> None:
        while True:
            try:
                req_id, kind, payload = conn.recv()
            except (EOFError, OSError):
                break
            q = self._pending.pop(req_id, None)
            if q is not None:
                q.put((kind, payload))
        with self._lock:
            if self._conn is conn:
                self._conn = None
                self._last_error = "the Ray connection was lost"
                self._schedule_retry()
            for q in list(self._pending.values()):
                q.put(("error", "the Ray connection was lost"))
            self._pending.clear()

    def _schedule_retry(self) -> None:
        delay = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
        self._failures += 1
        self._next_try = time.monotonic() + delay

    def _ensure(self):
        with self._lock:
            if self._closed:
                raise BridgeError("closed")
            if self._conn is not None:
                return self._conn
            if time.monotonic() < self._next_try:
                raise BridgeError(f"disconnected ({self._last_error}); retrying in "
                                  f"{self._next_try - time.monotonic():.0f}s")
            try:
                self._start(CONNECT_TIMEOUT_S)
            except BridgeError as e:
                self._last_error = str(e)
                self._schedule_retry()
                raise BridgeError(f"disconnected: {e}") from None
            return self._conn

    def call(self, name: str, method: str, *args, timeout: float = 120.0):
        """``sources[name].method(*args)`` in the bridge (e.g. stacks through the samplers)."""
        return self.read((name, method, args), timeout=timeout)

    def read(self, name, timeout: float = READ_TIMEOUT_S) -> Part:
        conn = self._ensure()
        req_id = next(self._ids)
        q: queue.Queue = queue.Queue(maxsize=1)
        self._pending[req_id] = q
        try:
            with self._lock:
                conn.send((req_id, name))
        except (OSError, ValueError) as e:
            self._pending.pop(req_id, None)
            raise BridgeError(f"the Ray connection was lost: {e}") from None
        try:
            kind, payload = q.get(timeout=timeout)
        except queue.Empty:
            self._pending.pop(req_id, None)
            raise BridgeError(f"{name}: no answer within {timeout:.0f}s") from None
        if kind == "ok":
            return payload
        if kind == "absent":
            raise SourceAbsent(payload)
        raise BridgeError(payload)

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def close(self, timeout: float = 1.0) -> None:
        """Ask the bridge to disconnect; kill it after ``timeout`` seconds."""
        self._closing.set()
        with self._lock:
            self._closed = True
            conn, proc = self._conn, self._proc
            self._conn = None
        if conn is not None:
            try:
                conn.send((-1, None))
                conn.close()
            except OSError:
                pass
        if proc is not None:
            # ray.shutdown() in the bridge can hang once the cluster is gone (the usual case at
            # the end of `raytop run`); nothing in it is worth waiting for.
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)


def _start_resource_tracker() -> None:
    """Spawning needs multiprocessing's resource tracker, which passes sys.stderr's fd to its
    child; once the TUI replaced sys.stderr that fails ("bad value(s) in fds_to_keep"). The
    tracker is started (once) with the real stderr, and only when a bridge is: most sessions
    never start one."""
    import sys

    saved = sys.stderr
    try:
        from multiprocessing import resource_tracker

        if sys.__stderr__ is not None:
            sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    except Exception:  # noqa: BLE001 - a failure shows up, explained, at connect time
        pass
    finally:
        sys.stderr = saved


class BridgedSource:
    """A source whose reads happen in the bridge process."""

    def __init__(self, bridge: RayBridge, name: str):
        self.bridge = bridge
        self.name = name

    def read(self) -> Part:
        return self.bridge.read(self.name)

    def close(self) -> None:
        pass


class FallbackSource:
    """A source read in raytop's process that, once it says it needs a Ray driver
    (``NeedsDriver``: e.g. no metrics endpoint answers), is read through the bridge instead.
    The switch is an event, once; the bridge (and its driver) starts only then."""

    def __init__(self, light, bridge: RayBridge, address_of=lambda: None):
        self.light = light
        self.name = light.name
        self.bridge = bridge
        self._address_of = address_of
        self.fell_back: str | None = None

    def read(self) -> Part:
        if self.fell_back is None:
            try:
                return self.light.read()
            except NeedsDriver as e:
                self.fell_back = str(e) or type(e).__name__
        if self.bridge.address is None:
            self.bridge.address = self._address_of()
        try:
            return self.bridge.read(self.name)
        except BridgeError as e:
            raise RuntimeError(f"through a Ray driver ({self.fell_back}): {e}") from None

    def close(self) -> None:
        self.light.close()


# ---- the bridge process -------------------------------------------------------------------

def _bridge_main(conn, address: str, source_names: Sequence[str]) -> None:
    _die_with_parent()
    _silence_output()
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    info = _connect_ray(conn, address)
    if info is None:
        return
    sources = _make_sources(source_names)
    conn.send(("connected", info))
    try:
        _serve(conn, sources)
    finally:
        for src in sources.values():
            try:
                src.close()
            except Exception:  # noqa: BLE001
                pass
        try:
            import ray

            ray.shutdown()
        except Exception:  # noqa: BLE001
            pass


def _connect_ray(conn, address: str) -> dict[str, str] | None:
    """``ray.init`` to the cluster; on failure the reason goes to raytop and None comes back."""
    try:
        from raytop.ray_connect import enable_token_auth_if_available, init_kwargs

        enable_token_auth_if_available()  # before importing ray: it caches its config on import
        import ray

        ray.init(**init_kwargs(address))
        return {"address": ray.get_runtime_context().gcs_address, "ray_version": ray.__version__}
    except BaseException as e:  # noqa: BLE001 - everything becomes one line for the user
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        conn.send(("failed", f"cannot connect to the Ray cluster at {address}: {msg}"))
        return None


def _make_sources(source_names: Sequence[str]) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    for name in source_names:
        try:
            mod_name, cls_name = BRIDGED_SOURCES[name].split(":")
            mod = __import__(mod_name, fromlist=[cls_name])
            sources[name] = getattr(mod, cls_name)()
        except SourceAbsent as e:
            sources[name] = _Broken(str(e), absent=True)
        except Exception as e:  # noqa: BLE001
            sources[name] = _Broken(f"{type(e).__name__}: {e}")
    return sources


def _serve(conn, sources: dict[str, Source]) -> None:
    """Answer read requests until raytop says stop or goes away. Each read runs on a thread of
    its own, one at a time per source: a request for a source whose last read still hangs (a
    Ray call that does not return) is answered at once with an error, not with another thread."""
    send_lock = threading.Lock()
    busy: dict[str, threading.Thread] = {}

    def reply(req_id: int, answer: tuple) -> None:
        with send_lock:
            try:
                conn.send((req_id,) + answer)
            except OSError:
                pass

    def serve(req_id: int, request) -> None:
        name, method, args = (request, "read", ()) if isinstance(request, str) else request
        src = sources.get(name)
        try:
            if src is None:
                raise SourceAbsent(f"unknown source {name}")
            answer = ("ok", getattr(src, method)(*args))
        except SourceAbsent as e:
            answer = ("absent", str(e))
        except Exception as e:  # noqa: BLE001
            answer = ("error", f"{type(e).__name__}: {e}"[:300])
        reply(req_id, answer)

    while True:
        try:
            req_id, name = conn.recv()
        except (EOFError, OSError):
            return
        if req_id == -1:
            return
        running = busy.get(name if isinstance(name, str) else repr(name[:2]))
        if running is not None and running.is_alive():
            reply(req_id, ("error", f"{name}: the previous read has not returned yet"))
            continue
        thread = threading.Thread(target=serve, args=(req_id, name), daemon=True)
        busy[name if isinstance(name, str) else repr(name[:2])] = thread
        thread.start()


def _silence_output() -> None:
    """Ray's C++ and Python logs must not reach raytop's terminal (they would tear the TUI)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass


class _Broken:
    name = "broken"

    def __init__(self, why: str, absent: bool = False):
        self.why = why
        self.absent = absent

    def read(self) -> Part:
        if self.absent:
            raise SourceAbsent(self.why)
        raise RuntimeError(self.why)

    def close(self) -> None:
        pass


def _die_with_parent() -> None:
    """Linux: the bridge gets SIGTERM when raytop dies, even by SIGKILL."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        parent = mp.parent_process()
        if parent is not None and os.getppid() != parent.pid:
            os._exit(1)  # raytop died before prctl: nobody would signal us
    except Exception:  # noqa: BLE001 - not Linux: the pipe's EOF still ends the loop
        pass
