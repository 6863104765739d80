"""`raytop run`: launch the script under the probe, watch it, record it, exit with its code."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from raytop.model import Event
from raytop.redact import redact_argv
from raytop.runner import ScriptJob, exit_status, open_script_log, probe_env
from raytop.session import (BRIDGED, build_collector, default_recording_path, installed_ray_version,
                            make_probe_source, recording_meta)
from raytop.sources.bridge import RayBridge

FINAL_WAIT_S = 0.5  # after the script exits, time for the probe's last datagrams to arrive


@dataclass
class RunOptions:
    script: Path
    args: List[str] = field(default_factory=list)
    headless: bool = False
    interval: float = 1.0
    record: bool = True
    record_path: Optional[Path] = None
    report_path: Optional[Path] = None
    force: bool = False
    argv: List[str] = field(default_factory=list)


def run_script(opts: RunOptions) -> int:
    # The listener first: when it cannot be opened, nothing is left behind to block a rerun.
    probe = make_probe_source(pids=set())
    if probe.fallback_note:
        print(f"raytop: {probe.fallback_note}", file=sys.stderr)
    rec_path, writer, log_path, log_file = _open_outputs(opts)
    bridge = RayBridge(None, BRIDGED)
    collector = build_collector(bridge=bridge, probe=probe, interval=opts.interval,
                                address_of=lambda: probe.address)
    if writer is not None:
        collector.add_sink(writer)
    env = probe_env(os.environ, opts.interval, channel_dir=probe.socket_path.parent)
    job = ScriptJob(str(opts.script), opts.args, env=env,
                    capture=not opts.headless, log_path=log_path, log_file=log_file)
    job.start()
    _watch_pid(probe, job.pid)
    collector.emit_event(Event(t=time.time(), kind="job_started",
                               message=" ".join(redact_argv(job.argv[1:])),
                               data={"pid": job.pid}))
    finished = threading.Event()
    result = {}

    def finish() -> None:
        code = job.wait()
        time.sleep(min(FINAL_WAIT_S, opts.interval + 0.5))
        collector.emit_event(Event(t=time.time(), kind="job_exit",
                                   message=f"script exited with code {exit_status(code)}",
                                   data={"exit_code": exit_status(code), "returncode": code}))
        collector.stop(final_tick=True)
        if writer is not None:
            writer.close(exit_code=exit_status(code))
        bridge.close(timeout=0.2)  # the script's cluster is gone: nothing to disconnect from
        result["code"] = exit_status(code)
        finished.set()

    old = _forward_signals(job)
    try:
        if opts.headless:
            from raytop.headless import StatusPrinter

            printer = StatusPrinter()
            collector.add_sink(printer)
            collector.start()
            threading.Thread(target=finish, name="raytop-run-finish", daemon=True).start()
            while not finished.wait(0.2):
                pass
            printer.finish()
        else:
            from raytop.tui import run_live

            collector.start()
            threading.Thread(target=finish, name="raytop-run-finish", daemon=True).start()
            run_live(collector, title=f"raytop run {opts.script.name}", address=None,
                     log_path=log_path, job=job)
            if job.poll() is None:
                print("raytop: view closed; the script is still running and being recorded "
                      "(Ctrl-C stops it)", file=sys.stderr)
            while not finished.wait(0.2):
                pass
    finally:
        _restore_signals(old)
    _announce_outputs(opts, rec_path, log_path)
    return result.get("code", 1)


def _open_outputs(opts: RunOptions):
    """(recording path, writer, log path, log file), each None when not wanted; nothing is left
    behind when one of them cannot be created."""
    from raytop.recording import RecordingWriter

    rec_path = None
    if opts.record:
        rec_path = opts.record_path or default_recording_path(str(opts.script))
    if opts.report_path is not None and opts.report_path.exists() and not opts.force:
        raise ValueError(f"{opts.report_path} exists; pass --force to overwrite it")
    log_path = None if opts.headless else _log_path(rec_path, opts.script)
    log_file = open_script_log(log_path, opts.force) if log_path is not None else None
    writer = None
    try:
        if rec_path is not None:
            writer = RecordingWriter(rec_path, meta=recording_meta(opts.argv, opts.interval,
                                                                   installed_ray_version()),
                                     force=opts.force)
    except BaseException:
        _discard_log(log_file, log_path)
        raise
    return rec_path, writer, log_path, log_file


def _announce_outputs(opts: RunOptions, rec_path: Optional[Path], log_path: Optional[Path]) -> None:
    if rec_path is not None:
        print(f"raytop: recording saved to {rec_path}", file=sys.stderr)
    if log_path is not None:
        print(f"raytop: script output in {log_path}", file=sys.stderr)
    if opts.report_path is not None and rec_path is not None:
        from raytop.report import write_report

        written = write_report(rec_path, opts.report_path, None, force=opts.force)
        print(f"raytop: report written to {written}", file=sys.stderr)


def _watch_pid(probe, pid: int) -> None:
    probe.watch_pid(pid)


def _log_path(rec_path: Optional[Path], script: Path) -> Path:
    if rec_path is not None:
        return rec_path.with_name(rec_path.name + ".log")
    from raytop.session import default_recording_path

    return default_recording_path(str(script)).with_suffix(".log")


def _discard_log(log_file, log_path: Optional[Path]) -> None:
    """The log this run just created, removed again when the run cannot start."""
    if log_file is not None:
        log_file.close()
        os.unlink(log_path)


def _forward_signals(job: ScriptJob):
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, lambda signum, frame: job.forward(signum))
    return old


def _restore_signals(old) -> None:
    for sig, handler in old.items():
        signal.signal(sig, handler)
