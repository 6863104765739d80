"""The injected agent: runs inside a Ray driver that raytop loaded its probe into.

It registers a ``RaytopProbe`` with every live streaming executor of the driver (Ray calls each
entry of an executor's callback list on every scheduling step, so an appended probe reports from
the next step on) and, once a second, with executors started later. It says hello to raytop each
second; when no raytop has listened for ``QUIET_AFTER_S`` it silences its probes and its thread
ends: nothing runs, nothing is sent, and the probes left in the executors' lists cost what a
dormant probe costs. A later injection wakes it up again.

Imports only the standard library, Ray and raytop's probe; every exception stays here.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HEARTBEAT_S = 1.0
QUIET_AFTER_S = 10.0
EXECUTOR_CLASS = "StreamingExecutor"

_lock = threading.Lock()
_agent: Agent | None = None


def start(channel_dir: str, token: str) -> None:
    """Entry point of the bootstrap raytop runs in the driver (the only one)."""
    global _agent
    try:
        with _lock:
            if _agent is not None and _agent.is_alive():
                _agent.renew(token)
                return
            _agent = Agent(Path(channel_dir), token)
            _agent.start()
    except Exception:  # noqa: BLE001 - nothing raises into the driver
        pass


def live_executors() -> Iterator[Any]:
    """Ray Data's streaming executors running in this process (each is a thread)."""
    for thread in threading.enumerate():
        if type(thread).__name__ == EXECUTOR_CLASS and thread.is_alive():
            yield thread


def callback_list(executor: Any) -> list[Any] | None:
    """The list of callbacks the executor calls on every step: its ``_callbacks`` (Ray 2.55+);
    in Ray 2.54, its DataContext's, which the executor looks up again on every step (and which
    the later executions of datasets sharing that context use too)."""
    callbacks = getattr(executor, "_callbacks", None)
    if isinstance(callbacks, list):
        return callbacks
    try:
        from ray.data._internal.execution import execution_callback

        get = getattr(execution_callback, "get_execution_callbacks", None)  # Ray 2.54 only
        callbacks = get(executor._data_context) if get is not None else None
    except Exception:  # noqa: BLE001 - not an executor raytop can join
        return None
    return callbacks if isinstance(callbacks, list) else None


def _our_probe(executor: Any) -> Any | None:
    from raytop.probe import RaytopProbe

    for callback in list(callback_list(executor) or ()):
        if isinstance(callback, RaytopProbe):
            return callback
    return None


class Agent(threading.Thread):
    def __init__(self, channel_dir: Path, token: str) -> None:
        super().__init__(name="raytop-agent", daemon=True)
        from raytop import probe
        from raytop.channel import Sender

        self._sender = Sender(channel_dir)
        probe.set_sender(self._sender)  # the probes report to the raytop that injected them
        self._token = token
        self._last_heard = time.monotonic()
        self._probes: list[Any] = []
        self._stop = threading.Event()

    def renew(self, token: str) -> None:
        self._token = token
        self._last_heard = time.monotonic()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self._register_with_executors()
                if self._say_hello():
                    self._last_heard = time.monotonic()
                elif time.monotonic() - self._last_heard > QUIET_AFTER_S:
                    break
                self._stop.wait(HEARTBEAT_S)
        except Exception:  # noqa: BLE001
            pass
        finally:
            self._go_quiet()

    def _register_with_executors(self) -> None:
        from raytop.probe import RaytopProbe

        probes = []
        for executor in live_executors():
            callbacks = callback_list(executor)
            if callbacks is None:
                continue
            mine = _our_probe(executor)
            if mine is not None and not mine.injected:
                continue  # the job's own probe (environment variable) reports this execution
            if mine is None:
                # Appending is safe while the scheduling thread iterates: it only ever reads.
                mine = RaytopProbe(injected=True)
                callbacks.append(mine)
            mine.quiet = False
            probes.append(mine)
        self._probes = probes

    def _say_hello(self) -> bool:
        message = {"v": 1, "kind": "hello", "pid": os.getpid(), "probe": "injected",
                   "token": self._token, "t": time.time(),
                   "executions": sum(1 for _ in live_executors())}
        return self._sender.send(json.dumps(message).encode()) > 0

    def _go_quiet(self) -> None:
        global _agent
        for p in self._probes:
            p.quiet = True
        self._probes = []
        with _lock:
            if _agent is self:
                _agent = None
