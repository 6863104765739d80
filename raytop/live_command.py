"""`raytop attach` and `raytop record`: read-only observers of a running cluster."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

from raytop.attach.injector import Injector, check_requested_pid
from raytop.ray_connect import check_reachable, normalize_address
from raytop.session import BRIDGED, build_collector, make_probe_source, recording_meta
from raytop.sources.bridge import RayBridge


def _connect(address: Optional[str]) -> RayBridge:
    addr = normalize_address(address or os.environ.get("RAY_ADDRESS") or "auto")
    check_reachable(addr)
    bridge = RayBridge(addr, BRIDGED)
    bridge.connect()  # BridgeError → one line, exit 2
    return bridge


def _open_writer(out: Optional[Path], force: bool, argv: List[str], interval: float, ray_version):
    if out is None:
        return None
    from raytop.recording import RecordingWriter

    return RecordingWriter(out, meta=recording_meta(argv, interval, ray_version), force=force)


def _say_fallback(probe) -> None:
    if probe.fallback_note:
        print(f"raytop: {probe.fallback_note}", file=sys.stderr)


def _injector(bridge: RayBridge, probe, collector, *, inject: bool,
              pid: Optional[int]) -> Injector:
    """The session's injector; ``--pid`` must name a driver of the cluster (else exit 2)."""
    if pid is not None:
        check_requested_pid(pid, bridge.read("drivers").drivers, bridge.info.get("address"))
    injector = Injector(probe.channel_for, probe.wait_for_hello, collector.emit_event,
                        auto=inject, pid=pid)
    collector.add_sink(injector)
    return injector


def record_headless(*, address, duration, interval, out: Path, force: bool, argv,
                    inject: bool = False, pid: Optional[int] = None) -> int:
    from raytop.headless import StatusPrinter
    from raytop.recording import RecordingWriter  # noqa: F401 - fail early when missing

    if out.exists() and not force:
        raise FileExistsError_(out)
    bridge = _connect(address)
    probe = make_probe_source()
    _say_fallback(probe)
    collector = build_collector(bridge=bridge, probe=probe, interval=interval,
                                address_of=lambda: bridge.address)
    _injector(bridge, probe, collector, inject=inject, pid=pid)
    writer = _open_writer(out, force, argv, interval, bridge.info.get("ray_version"))
    collector.add_sink(writer)
    printer = StatusPrinter()
    collector.add_sink(printer)
    stop = threading.Event()
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        collector.start()
        stop.wait(duration)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        collector.stop(final_tick=False)
        writer.close()
        bridge.close()
        printer.finish()
    print(f"raytop: recording saved to {out}", file=sys.stderr)
    return 0


def attach_live(*, address, dataset_id, interval, record_path, force, argv,
                inject: bool = False, pid: Optional[int] = None) -> int:
    from raytop.tui import run_live

    if record_path is not None and record_path.exists() and not force:
        raise FileExistsError_(record_path)
    bridge = _connect(address)
    probe = make_probe_source(dataset_id=dataset_id)
    _say_fallback(probe)
    collector = build_collector(bridge=bridge, probe=probe, interval=interval,
                                address_of=lambda: bridge.address)
    injector = _injector(bridge, probe, collector, inject=inject, pid=pid)
    writer = _open_writer(record_path, force, argv, interval, bridge.info.get("ray_version"))
    if writer is not None:
        collector.add_sink(writer)
    try:
        collector.start()
        return run_live(collector, title="raytop attach", address=bridge.info.get("address"),
                        injector=injector)
    finally:
        collector.stop()
        if writer is not None:
            writer.close()
        bridge.close()
        if record_path is not None:
            print(f"raytop: recording saved to {record_path}", file=sys.stderr)


class FileExistsError_(FileExistsError):
    def __init__(self, path: Path):
        super().__init__(f"{path} exists; pass --force to overwrite it")

    def __str__(self) -> str:
        return self.args[0]
