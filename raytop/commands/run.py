"""`raytop run`: launch the script under the probe, watch it, record it, exit with its code.

Three steps: ``_set_up`` opens everything (the probe listener first, so a failure leaves nothing
behind), ``_watch`` shows the live view or the status line until the script ended and the last
snapshot is in, ``_finish`` says where the outputs are and writes the report.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from raytop.commands.cluster_session import ClusterSession
from raytop.commands.common import (
    FAIL_ON,
    FORCE,
    NO_AGENTS,
    STALL_AFTER,
    build_collector,
    default_recording_path,
    disable_agents,
    installed_ray_version,
    interval_option,
    make_probe_listener,
    recording_meta,
    refuse_existing,
    set_stall_after,
)
from raytop.commands.gate import FindingsGate, gated_exit_code, report_failing
from raytop.commands.script import ScriptJob, exit_status, open_script_log, probe_env
from raytop.errors import BadInput
from raytop.model import Event
from raytop.redact import redact_argv
from raytop.tuning.launch import ENV as OVERRIDES_ENV
from raytop.tuning.launch import REPORT_ENV as OVERRIDES_REPORT_ENV
from raytop.tuning.overrides import Override, check_against_script, parse_settings, to_env

FINAL_WAIT_S = 0.5  # after the script exits, time for the probe's last datagrams to arrive


@dataclass
class RunOptions:
    script: Path
    args: list[str] = field(default_factory=list)
    headless: bool = False
    interval: float = 1.0
    record: bool = True
    record_path: Path | None = None
    report_path: Path | None = None
    force: bool = False
    argv: list[str] = field(default_factory=list)
    fail_on: str | None = None  # "warning" | "critical": the CI gate's level
    overrides: tuple[Override, ...] = ()  # --set: Ray Data arguments changed in the script
    stall_after: float | None = None  # --stall-after: seconds without progress that are a stall


@dataclass
class _Run:
    """Everything one `raytop run` holds while the script runs."""

    opts: RunOptions
    probe: Any
    session: ClusterSession
    collector: Any
    job: ScriptJob
    writer: Any = None
    rec_path: Path | None = None
    log_path: Path | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    exit_code: int = 1
    gate: FindingsGate | None = None
    overrides_report: Path | None = None
    overrides_unmatched: tuple[str, ...] = ()


def run_script(opts: RunOptions) -> int:
    run = _set_up(opts)
    # Before the start: a script inherits an ignored SIGINT (raytop started in the background, by
    # nohup, by `raytop tune`), and Python then never raises KeyboardInterrupt in it.
    old = _forward_signals(run.job)
    try:
        _start_job(run)
        _watch(run)
    finally:
        _restore_signals(old)
    return _finish(run)


# ---- set up -------------------------------------------------------------------------------------

def _set_up(opts: RunOptions) -> _Run:
    probe = make_probe_listener(pids=set())
    rec_path, writer, log_path, log_file = _open_outputs(opts)
    session = ClusterSession(None, address_of=lambda: probe.address)
    collector = build_collector(session=session, probe=probe, interval=opts.interval)
    if writer is not None:
        collector.add_sink(writer)
    gate = FindingsGate(opts.fail_on) if opts.fail_on else None
    if gate is not None:
        collector.add_sink(gate)
    env = probe_env(os.environ, opts.interval, channel_dir=probe.socket_path.parent)
    report_path = _override_env(env, opts.overrides)
    job = ScriptJob(str(opts.script), opts.args, env=env, capture=not opts.headless,
                    log_path=log_path, log_file=log_file, launcher=bool(opts.overrides))
    return _Run(opts=opts, probe=probe, session=session, collector=collector, job=job,
                writer=writer, rec_path=rec_path, log_path=log_path, gate=gate,
                overrides_report=report_path)


def _start_job(run: _Run) -> None:
    run.job.start()
    run.probe.watch_pid(run.job.pid)
    run.collector.emit_event(Event(t=time.time(), kind="job_started",
                                   message=" ".join(redact_argv(run.job.argv[1:])),
                                   data={"pid": run.job.pid}))


def _override_env(env: dict[str, str], overrides: tuple[Override, ...]) -> Path | None:
    """The launcher's settings in the script's environment; where it reports its matches."""
    if not overrides:
        return None
    import json
    import tempfile

    fd, path = tempfile.mkstemp(prefix="raytop-overrides-", suffix=".json")
    os.close(fd)
    env[OVERRIDES_ENV] = json.dumps(to_env(overrides))
    env[OVERRIDES_REPORT_ENV] = path
    return Path(path)


def _open_outputs(opts: RunOptions):
    """(recording path, writer, log path, log file), each None when not wanted; nothing is left
    behind when one of them cannot be created."""
    from raytop.recording import RecordingWriter

    rec_path = None
    if opts.record:
        rec_path = opts.record_path or default_recording_path(str(opts.script))
    refuse_existing(opts.report_path, opts.force)
    log_path = None if opts.headless else _log_path(rec_path, opts.script)
    log_file = open_script_log(log_path, opts.force) if log_path is not None else None
    writer = None
    try:
        if rec_path is not None:
            meta = recording_meta(opts.argv, opts.interval, installed_ray_version(),
                                  opts.stall_after)
            if opts.overrides:
                meta["overrides"] = [o.text for o in opts.overrides]
            writer = RecordingWriter(rec_path, meta=meta, force=opts.force)
    except BaseException:
        _discard_log(log_file, log_path)
        raise
    return rec_path, writer, log_path, log_file


def _log_path(rec_path: Path | None, script: Path) -> Path:
    if rec_path is not None:
        return rec_path.with_name(rec_path.name + ".log")
    return default_recording_path(str(script)).with_suffix(".log")


def _discard_log(log_file, log_path: Path | None) -> None:
    """The log this run just created, removed again when the run cannot start."""
    if log_file is not None:
        log_file.close()
        if log_path is not None:
            os.unlink(log_path)


# ---- watch --------------------------------------------------------------------------------------

def _watch(run: _Run) -> None:
    """The view (or status line) until the script ended and its last snapshot was taken."""
    threading.Thread(target=_wait_for_script, args=(run,), name="raytop-run-finish",
                     daemon=True).start()
    if run.opts.headless:
        from raytop.commands.status_line import StatusPrinter

        printer = StatusPrinter()
        run.collector.add_sink(printer)
        run.collector.start()
        run.finished.wait()
        printer.finish()
        return
    from raytop.commands.stacks import view_stacks
    from raytop.tui import run_live

    run.collector.start()
    run_live(run.collector, title=f"raytop run {run.opts.script.name}", address=None,
             log_path=run.log_path, job=run.job, stacks=view_stacks(run.session))
    if run.job.poll() is None:
        print("raytop: view closed; the script is still running and being recorded "
              "(Ctrl-C stops it)", file=sys.stderr)
    run.finished.wait()


def _wait_for_script(run: _Run) -> None:
    code = run.job.wait()
    time.sleep(min(FINAL_WAIT_S, run.opts.interval + 0.5))  # the probe's last datagrams
    status = exit_status(code)
    run.collector.emit_event(Event(t=time.time(), kind="job_exit",
                                   message=f"script exited with code {status}",
                                   data={"exit_code": status, "returncode": code}))
    if run.opts.overrides:
        run.collector.emit_event(_overrides_event(run))
    run.collector.stop(final_tick=True)
    if run.gate is not None and run.writer is not None:
        run.writer.event(run.gate.verdict_event())  # the report shows the gate's verdict
    if run.writer is not None:
        run.writer.close(exit_code=status)
    run.session.close(bridge_timeout=0.2)  # the script's cluster is gone: nothing to keep
    run.exit_code = status
    run.finished.set()


def _overrides_event(run: _Run) -> Event:
    """Which overrides matched which of the script's calls (from the launcher's report)."""
    import json

    matches: dict[str, int | None] = {o.text: None for o in run.opts.overrides}
    try:
        if run.overrides_report is not None:
            matches.update(json.loads(run.overrides_report.read_text() or "{}").get("matches", {}))
            run.overrides_report.unlink()
    except (OSError, ValueError):
        pass
    unmatched = [text for text, n in matches.items() if not n]
    run.overrides_unmatched = tuple(unmatched)
    message = "overrides in force: " + "; ".join(matches)
    if unmatched:
        message += f" (matched no call: {'; '.join(unmatched)})"
    return Event(t=time.time(), kind="overrides", message=message,
                 data={"matches": matches, "unmatched": unmatched})


def _forward_signals(job: ScriptJob) -> dict[int, Any]:
    old: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, lambda signum, frame: job.forward(signum))
    return old


def _restore_signals(old: dict[int, Any]) -> None:
    for sig, handler in old.items():
        signal.signal(sig, handler)


# ---- finish -------------------------------------------------------------------------------------

def _finish(run: _Run) -> int:
    for text in run.overrides_unmatched:
        print(f"raytop: --set {text} matched no call of the script: it changed nothing",
              file=sys.stderr)
    failing = run.gate.failing() if run.gate is not None else ()
    if run.gate is not None:
        report_failing(failing, run.gate.level)
    if run.rec_path is not None:
        print(f"raytop: recording saved to {run.rec_path}", file=sys.stderr)
    if run.log_path is not None:
        print(f"raytop: script output in {run.log_path}", file=sys.stderr)
    if run.opts.report_path is not None and run.rec_path is not None:
        from raytop.report import write_report

        written = write_report(run.rec_path, run.opts.report_path, None, force=run.opts.force)
        print(f"raytop: report written to {written}", file=sys.stderr)
    return gated_exit_code(run.exit_code, run.gate, list(failing))


# ---- the command --------------------------------------------------------------------------------

@click.command("run", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.option("--headless", is_flag=True, help="No TUI: a status line on stderr.")
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Recording path (default ./raytop-<script>-<UTC time>.raytop).")
@click.option("--no-record", is_flag=True, help="Do not record.")
@interval_option()
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a report (.html/.md/.json) when the script ends.")
@FORCE
@FAIL_ON
@click.option("--set", "settings", multiple=True, metavar="OPERATOR.key=value",
              help="Change an argument of the script's Ray Data calls without editing it, e.g. "
                   "'MapBatches(preprocess).concurrency=8' (repeatable; docs/tune.md).")
@NO_AGENTS
@STALL_AFTER
@click.argument("script", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(headless, record_path, no_record, interval, report_path, force, fail_on, settings,
            no_agents, stall_after, script, args) -> None:
    """Run SCRIPT with the probe installed and profile it; exits with the script's code."""
    if not script.is_file():
        raise BadInput(f"script not found: {script}" if not script.exists()
                       else f"not a file: {script}")
    if no_record and record_path:
        raise BadInput("--record and --no-record exclude each other")
    if no_record and report_path:
        raise BadInput("--report needs a recording; drop --no-record")
    overrides = parse_settings(settings)
    for note in check_against_script(overrides, script):
        print(f"raytop: {note}", file=sys.stderr)
    opts = RunOptions(script=script, args=list(args), headless=headless, interval=interval,
                      record_path=None if no_record else record_path, record=not no_record,
                      report_path=report_path, force=force, argv=sys.argv, fail_on=fail_on,
                      overrides=overrides, stall_after=stall_after)
    if no_agents:
        disable_agents()
    set_stall_after(stall_after)
    sys.exit(run_script(opts))
