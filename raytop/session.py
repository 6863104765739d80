"""Wiring for live commands: which sources a session reads, the collector, the recording."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence

from raytop import __version__
from raytop.collector import Collector
from raytop.sources.base import Part, SourceAbsent
from raytop.sources.bridge import BridgeError, RayBridge

BRIDGED = ("cluster", "stats", "processes", "samplers", "drivers")


def disable_agents() -> None:
    """--no-agents: no sampler actors (the bridge process inherits the setting); other nodes'
    heap and GPUs are then unknown (docs/scaling.md lists the fields)."""
    from raytop.sources.sampler import NO_AGENTS_ENV

    os.environ[NO_AGENTS_ENV] = "1"


class LazyBridgedSource:
    """A bridged source whose cluster address may only become known later (``raytop run``:
    the probe reports it once the script's Ray Data execution starts)."""

    def __init__(self, bridge: RayBridge, name: str, address_of: Callable[[], Optional[str]]):
        self.bridge = bridge
        self.name = name
        self._address_of = address_of

    def read(self) -> Part:
        if self.bridge.address is None:
            addr = self._address_of()
            if not addr:
                raise SourceAbsent("waiting for the job to start Ray (the probe reports the address)")
            self.bridge.address = addr
        try:
            return self.bridge.read(self.name)
        except BridgeError as e:
            raise RuntimeError(str(e)) from None

    def close(self) -> None:
        pass


def make_probe_source(pids=None, dataset_id: Optional[str] = None):
    from raytop.sources.probe_source import ProbeSource

    return ProbeSource(pids=pids, dataset_id=dataset_id)


def make_gpu_source():
    from raytop.sources.gpu import GpuSource

    return GpuSource()


def build_collector(*, bridge: RayBridge, probe, interval: float,
                    address_of: Callable[[], Optional[str]]) -> Collector:
    sources: List = []
    if probe is not None:
        sources.append(probe)
    sources.extend(LazyBridgedSource(bridge, name, address_of) for name in BRIDGED)
    sources.append(make_gpu_source())
    return Collector(sources, interval=interval)


def recording_meta(command: Sequence[str], interval: float, ray_version: Optional[str]) -> dict:
    return {
        "command": ["raytop", *list(command)[1:]],  # argv[0] is a path to raytop's entry point
        "raytop_version": __version__,
        "ray_version": ray_version,
        "python": sys.version.split()[0],
        "host": socket.gethostname(),
        "user": _user(),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "interval": interval,
        "cwd": os.getcwd(),
    }


def _user() -> Optional[str]:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return None


def default_recording_path(script: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / f"raytop-{Path(script).stem}-{stamp}.raytop"


def installed_ray_version() -> Optional[str]:
    try:
        from importlib.metadata import version

        return version("ray")
    except Exception:  # noqa: BLE001
        return None


class CallbackSink:
    """Adapts plain callables to the collector's sink interface."""

    def __init__(self, on_snapshot=None, on_event=None):
        self._on_snapshot = on_snapshot
        self._on_event = on_event

    def snapshot(self, snap) -> None:
        if self._on_snapshot:
            self._on_snapshot(snap)

    def event(self, ev) -> None:
        if self._on_event:
            self._on_event(ev)


def all_names(items: Iterable) -> List[str]:
    return [getattr(i, "name", str(i)) for i in items]
