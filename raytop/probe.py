"""The probe: a Ray Data ``ExecutionCallback`` that runs inside the user's driver process.

Load it with ``RAY_DATA_EXECUTION_CALLBACKS=raytop.probe.RaytopProbe`` (Ray instantiates it once
per execution, with no arguments). It reads the executor through ``raytop.sources.ray_adapter``,
throttled to ``RAYTOP_INTERVAL`` seconds (default 1.0), and sends compact JSON datagrams to every
raytop listening on this user's channel (``raytop.channel``). It never raises into Ray Data, never
blocks Ray's scheduling thread (its only Ray call there is one local runtime-context read per
execution; where a slow task runs is asked of the GCS on the probe's own reporter thread), and
drops its data when nobody listens.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import ray
from ray.data._internal.execution.execution_callback import ExecutionCallback

from raytop.channel import MAX_MESSAGE_BYTES, Sender
from raytop.model import to_dict
from raytop.redact import redact_text
from raytop.sources import ray_adapter, ray_iterator, ray_tasks

PROTOCOL_VERSION = 1
ENV_INTERVAL = "RAYTOP_INTERVAL"
DEFAULT_INTERVAL_S = 1.0
PLAN_RESEND_S = 10.0  # datagrams can be lost: repeat the plan now and then
MAX_ERROR_CHARS = 500

_monotonic = time.monotonic
_sender: Sender | None = None
_sender_lock = threading.Lock()  # several executors (threads) may report at once


def set_sender(sender: Sender | None) -> None:
    """Replace the process-wide sender (tests; ``None``: a fresh default one on next send)."""
    global _sender
    with _sender_lock:
        _sender = sender


def _send(payload: bytes) -> int:
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = Sender()
        return _sender.send(payload)


def interval_from_env() -> float:
    try:
        value = float(os.environ.get(ENV_INTERVAL, DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return max(0.0, value) if value == value else DEFAULT_INTERVAL_S  # NaN -> default


# ---- errors, without secrets ----------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_QUALIFIED_NAME = re.compile(r"[A-Za-z_][\w.]*")
_EXC_SUFFIXES = ("Error", "Exception", "Exit", "Interrupt")
# Linear patterns only: they run on the failing driver's thread.
_KEY_VALUE = re.compile(r"\b([\w-]+)(\s*[=:]\s*)(['\"]?)[^\s'\",;]+")
_SECRET_KEY = re.compile(r"(?i)token|password|passwd|secret|api[_-]?key|access[_-]?key|credential")
_URL_CREDS = re.compile(r"(?i)(\b[a-z][a-z0-9+-]{0,30}://)[^/\s:@]+:[^/\s@]+@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
MAX_SCAN_CHARS = 65_536  # of an error's text, searched for its root-cause line


def _mask_secret_value(m: re.Match) -> str:
    if _SECRET_KEY.search(m.group(1)):
        return f"{m.group(1)}{m.group(2)}{m.group(3)}***"
    return m.group(0)


def redact(text: str) -> str:
    """Hide values that look like secrets (key=value pairs, URL credentials, Ray's token)."""
    text = redact_text(text)  # Ray's auth token, URL passwords
    text = _URL_CREDS.sub(r"\1***@", text)
    text = _BEARER.sub(r"\1 ***", text)
    return _KEY_VALUE.sub(_mask_secret_value, text)


def _is_exception_line(line: str) -> bool:
    head = line.split(":", 1)[0].split("(", 1)[0].strip()
    return (head.endswith(_EXC_SUFFIXES) and line.lstrip() == line
            and _QUALIFIED_NAME.fullmatch(head) is not None)


def describe_error(error: BaseException) -> str:
    """``Type: root cause line`` in one line, truncated, secrets redacted.

    Ray wraps UDF errors (``RayTaskError(UserCodeException)``) around a traceback whose first
    exception line is the user's own error: that line is what the user needs to see. The text
    is cut before it is redacted, so a huge message costs the failing driver next to nothing.
    """
    try:
        text = _ANSI.sub("", str(error)[:MAX_SCAN_CHARS])
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        root = next((ln for ln in text.splitlines() if _is_exception_line(ln)), None)
        detail = root.strip() if root else (lines[0] if lines else "")
        name = type(error).__name__
        out = f"{name}: {detail}" if detail else name
    except Exception:  # noqa: BLE001 - str() of a user's exception may raise anything
        out = type(error).__name__
    out = redact(out[:2 * MAX_ERROR_CHARS])
    return out if len(out) <= MAX_ERROR_CHARS else out[:MAX_ERROR_CHARS - 1] + "…"


# ---- the callback ---------------------------------------------------------------------------

def listening() -> bool:
    """Whether any raytop listens on the channel (the listing is cached for ~2 s)."""
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = Sender()
        return _sender.listening()


def _execution_start_time(executor: Any) -> float:
    """Wall-clock start of an execution the probe joined late (Ray keeps a perf_counter)."""
    started = getattr(executor, "_start_time", None)
    if isinstance(started, float):
        return time.time() - max(0.0, time.perf_counter() - started)
    return time.time()


class RaytopProbe(ExecutionCallback):
    """Reports one execution (one dataset) to raytop. Every hook swallows every exception.

    Dormant while nobody listens: a step then costs a clock read, and once a second a look at
    the channel's (cached) listing. Ray creates it per execution; ``raytop attach --inject``
    creates one for an execution already running (``injected``) and may silence it (``quiet``).
    Ray 2.54 creates one per DataContext instead (``_probe_for``).
    """

    def __init__(self, injected: bool = False) -> None:
        self.injected = injected
        self.quiet = False
        self._interval = DEFAULT_INTERVAL_S
        self._others: weakref.WeakKeyDictionary[Any, RaytopProbe] = weakref.WeakKeyDictionary()
        self._reset(None)
        try:
            self._interval = interval_from_env()
        except Exception:  # noqa: BLE001 - the probe must never break the watched job
            pass

    def _reset(self, executor: Any) -> None:
        """Forget the execution reported so far; report ``executor`` from now on."""
        self._executor = _weak(executor)
        self._ended = False
        self._next_step = 0.0
        self._dataset_id: str | None = None
        self._header: dict = {}
        self._plan: dict | None = None
        self._announced = False
        self._plan_sent_at = float("-inf")
        self._reported_at = float("-inf")
        self._start_time: float | None = None
        self._job_id: str | None = None

    # Ray 2.54 keeps the probe in the DataContext, which it copies for derived datasets and ships
    # with every task: a copy starts afresh, and workers get Ray's no-op base class (they never
    # run callbacks, and nodes without raytop could not unpickle this one).
    def __copy__(self) -> RaytopProbe:
        fresh = RaytopProbe(self.injected)
        fresh.quiet = self.quiet
        return fresh

    def __deepcopy__(self, memo: dict) -> RaytopProbe:
        return self.__copy__()

    def __reduce__(self) -> tuple:
        return ExecutionCallback, ()

    def _probe_for(self, executor: Any) -> RaytopProbe:
        """The probe reporting ``executor``: this one, unless it still reports another execution.
        From Ray 2.55 there is one probe per execution, so that is always this one; in 2.54 one
        per DataContext serves every execution of the datasets derived from one, even at once."""
        mine = self._executor() if self._executor is not None else None
        if mine is executor:
            return self
        if mine is None or self._ended:
            self._reset(executor)
            return self
        other = self._others.get(executor)
        if other is None:
            other = self._others[executor] = RaytopProbe(self.injected)
            other._reset(executor)
        other.quiet = self.quiet
        return other

    def before_execution_starts(self, executor: Any) -> None:
        try:
            self._probe_for(executor)._begin(executor)
        except Exception:  # noqa: BLE001 - a probe bug must never break the watched job
            pass

    def on_execution_step(self, executor: Any) -> None:
        try:
            probe = self._probe_for(executor)
            if probe.quiet or _monotonic() < probe._next_step:
                return
            probe._step(executor)
        except Exception:  # noqa: BLE001 - a probe bug must never break the watched job
            pass

    def after_execution_succeeds(self, executor: Any) -> None:
        try:
            self._probe_for(executor)._end(executor, "finished", "FINISHED", None)
        except Exception:  # noqa: BLE001 - a probe bug must never break the watched job
            pass

    def after_execution_fails(self, executor: Any, error: Exception) -> None:
        try:
            self._probe_for(executor)._end(executor, "failed", "FAILED", describe_error(error))
        except Exception:  # noqa: BLE001 - a probe bug must never break the watched job
            pass

    # ---- internals ----

    def _begin(self, executor: Any) -> None:
        self._start(executor, time.time())
        if not self.quiet and listening():
            self._announce(executor, "started")
        self._next_step = _monotonic() + self._interval

    def _step(self, executor: Any) -> None:
        now = _monotonic()
        self._next_step = now + self._interval
        if not listening():
            return
        if self._dataset_id is None:  # registered after the execution started
            self._start(executor, _execution_start_time(executor))
        if not self._announced:  # somebody started listening since
            self._announce(executor, "joined")
            return
        self._report(executor, "step", "RUNNING",
                     with_plan=now - self._plan_sent_at >= PLAN_RESEND_S)

    def _end(self, executor: Any, kind: str, state: str, error: str | None) -> None:
        try:
            self._final(executor, kind, state, error)
        finally:
            self._ended = True

    def _start(self, executor: Any, start_time: float) -> None:
        self._dataset_id = str(getattr(executor, "_dataset_id", None) or "unknown_dataset")
        _LIVE.add(self)
        ray_iterator.watch_iterations()  # once per process: the consumer's figures
        self._start_time = start_time
        address = job_id = None
        try:
            ctx = ray.get_runtime_context()  # local state only, no network
            address = ctx.gcs_address
            job_id = ctx.get_job_id()
        except Exception:  # noqa: BLE001 - no runtime context: report without the job id
            pass
        self._job_id = job_id
        self._header = {"v": PROTOCOL_VERSION, "pid": os.getpid(), "address": address,
                        "ray_version": ray_adapter.RAY_VERSION, "job_id": job_id,
                        "probe": "injected" if self.injected else "env"}

    def _announce(self, executor: Any, kind: str) -> None:
        """The first report a listener gets: with the plan, captured now (2 ms, once)."""
        try:
            self._plan = _as_dict(ray_adapter.capture_plan(executor))
        except Exception:  # noqa: BLE001 - Ray internals vary by version: report without the plan
            self._plan = None
        self._announced = True
        self._report(executor, kind, "RUNNING", with_plan=True)

    def _final(self, executor: Any, kind: str, state: str, error: str | None) -> None:
        self._next_step = float("inf")  # no step reports after the end
        if self.quiet or not listening():
            return
        if self._dataset_id is None:
            self._start(executor, _execution_start_time(executor))
        if self._plan is None:
            self._plan = _as_dict(ray_adapter.capture_plan(executor))
        self._report(executor, kind, state, with_plan=True, end_time=time.time(), error=error)

    def _report(self, executor: Any, kind: str, state: str, *, with_plan: bool,
                end_time: float | None = None, error: str | None = None) -> None:
        """Read the executor here, on the scheduling thread (the only consistent view); turn it
        into JSON and send it on the reporter thread, so a step costs only the read. The first
        and the final reports wait for delivery: a final one must leave before the script exits."""
        if self._dataset_id is None:  # every caller runs _start first
            return
        read_at = time.time()
        stats = ray_adapter.read_dataset(executor, self._dataset_id, state)
        tails = ray_tasks.capture(executor)
        consumer = ray_iterator.read_consumer(self._dataset_id)
        extra = {"job_id": self._job_id, "start_time": self._start_time, "end_time": end_time,
                 "consumer": _as_dict(consumer),
                 "error": error, "figures_t": read_at, "driver_pid": self._header.get("pid"),
                 "probe": self._header.get("probe")}
        header = dict(self._header, kind=kind, t=read_at)
        plan = self._plan if with_plan else None
        if with_plan:
            self._plan_sent_at = _monotonic()
        self._reported_at = _monotonic()
        # Only step reports ask the GCS where slow tasks run: the others wait for delivery.
        _reporter.submit(lambda: _deliver(header, stats, extra, plan, tails, kind == "step"),
                         wait=kind != "step")

    def _keep_alive(self, now: float) -> None:
        """Report from the reporter thread when the execution stopped stepping but has not
        ended: Ray's scheduling loop stops once every operator is done, while the consumer may
        drain the output (and its own figures change) for a long time after."""
        if self._ended or self.quiet or not self._announced or self._dataset_id is None:
            return
        if now - self._reported_at < max(2 * self._interval, HEARTBEAT_S):
            return
        executor = self._executor() if self._executor is not None else None
        if executor is None or not listening():
            return
        self._report(executor, "step", "RUNNING", with_plan=False)


def _keep_alive_all() -> None:
    now = _monotonic()
    for probe in list(_LIVE):
        try:
            probe._keep_alive(now)
        except Exception:  # noqa: BLE001 - a probe bug must never break the watched job
            pass


HEARTBEAT_S = 1.0  # how often the reporter thread looks for executions that stopped stepping
_LIVE: weakref.WeakSet = weakref.WeakSet()  # probes that started reporting an execution


def _weak(obj: Any) -> Callable[[], Any] | None:
    """A weak reference to ``obj`` (an ended execution must not be kept alive by its probe)."""
    if obj is None:
        return None
    try:
        return weakref.ref(obj)
    except TypeError:  # not weakly referenceable (a stand-in executor)
        return lambda: obj


_placements = ray_tasks.TaskPlacements()  # used by the reporter thread only


def _deliver(header: dict, stats: Any, extra: dict, plan: dict | None,
             tails: ray_tasks.Capture | None = None, lookups: bool = False) -> None:
    _placements.begin(header.get("address"), lookups)
    stats = ray_tasks.with_tails(stats, tails, _placements)
    dataset = _as_dict(stats)
    dataset.update(extra)
    if plan is not None:
        dataset["plan"] = plan
    message = dict(header, dataset=dataset)
    payload = _encode(message)
    if payload is None:
        return
    if len(payload) > MAX_MESSAGE_BYTES and plan is not None:
        dataset["plan"] = None  # too big with the plan: send the figures without it
        payload = _encode(message)
        if payload is None:
            return
    _send(payload)


class _Reporter:
    """One daemon thread per driver process that serialises and sends reports. Step reports
    are dropped when it falls behind (the next one is a second away); the first and final
    reports wait for delivery, at most WAIT_S each. With nothing to send for IDLE_EXIT_S the
    thread ends (a silenced or dormant probe leaves no thread of raytop's behind); the next
    report starts a new one."""

    WAIT_S = 1.0
    QUEUE = 8
    IDLE_EXIT_S = 30.0

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=self.QUEUE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job, *, wait: bool) -> None:
        done = threading.Event() if wait else None
        try:
            self._ensure_thread()
            if wait:
                self._queue.put((job, done), timeout=self.WAIT_S)
            else:
                self._queue.put_nowait((job, done))
        except Exception:  # noqa: BLE001 - queue full (or no thread at exit): the report is dropped
            return
        if done is not None:
            # A stuck send (whatever the reason) must not hold the job: give up after WAIT_S.
            done.wait(self.WAIT_S)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="raytop-probe-reporter",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        idle_since = _monotonic()
        while True:
            try:
                job, done = self._queue.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                _keep_alive_all()
                if _monotonic() - idle_since < self.IDLE_EXIT_S:
                    continue
                with self._lock:  # a submit in between sees either this thread or none
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            idle_since = _monotonic()
            _run_quietly(job)
            if done is not None:
                done.set()


def _run_quietly(job) -> None:
    try:
        job()
    except Exception:  # noqa: BLE001 - a failed delivery must never reach the watched job
        pass


_reporter = _Reporter()


_SCALARS = (str, int, float, bool, type(None))
_FIELD_NAMES: dict = {}


def _as_dict(obj: Any) -> Any:
    """``model.to_dict`` for the probe's hot path: same output, several times faster, because
    the types it meets are known (dataclasses, tuples, dicts and JSON scalars)."""
    tp = type(obj)
    if tp in _SCALARS:
        return obj
    names = _FIELD_NAMES.get(tp)
    if names is None and hasattr(tp, "__dataclass_fields__"):
        names = _FIELD_NAMES[tp] = tuple(f.name for f in dataclasses.fields(tp))
    if names is not None:
        return {n: _as_dict(getattr(obj, n)) for n in names}
    if tp is tuple or tp is list:
        return [_as_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _as_dict(v) for k, v in obj.items()}
    return to_dict(obj)


def _encode(message: dict) -> bytes | None:
    try:
        return json.dumps(message, separators=(",", ":"), default=repr).encode()
    except Exception:  # noqa: BLE001 - default=repr runs arbitrary user __repr__ code
        return None
