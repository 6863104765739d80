"""`raytop record`: what `attach` shows, headless, into a recording (tmux, cron, CI)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from raytop.commands.cluster_session import open_session
from raytop.commands.common import (
    ADDRESS,
    FAIL_ON,
    FORCE,
    INJECT,
    NO_AGENTS,
    PID,
    STALL_AFTER,
    FiniteFloatRange,
    add_injector,
    build_collector,
    disable_agents,
    interval_option,
    make_probe_listener,
    open_recording,
    refuse_existing,
    set_stall_after,
)
from raytop.commands.gate import FindingsGate, gated_exit_code, report_failing


def record_headless(*, address, duration, interval, out: Path, force: bool, argv,
                    inject: bool = False, pid=None, fail_on=None, stall_after=None) -> int:
    from raytop.commands.status_line import StatusPrinter

    refuse_existing(out, force)
    session = open_session(address)
    probe = make_probe_listener(cluster=session.address)
    collector = build_collector(session=session, probe=probe, interval=interval)
    add_injector(session, probe, collector, inject=inject, pid=pid)
    writer = open_recording(out, force, argv, interval, session.link.ray_version, stall_after)
    collector.add_sink(writer)
    printer = StatusPrinter()
    collector.add_sink(printer)
    gate = FindingsGate(fail_on) if fail_on else None
    if gate is not None:
        collector.add_sink(gate)
    stop = threading.Event()
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        collector.start()
        stop.wait(duration)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        collector.stop(final_tick=False)
        if gate is not None:
            writer.event(gate.verdict_event())
        writer.close()
        session.close()
        printer.finish()
    failing = gate.failing() if gate is not None else ()
    if gate is not None:
        report_failing(failing, gate.level)
    print(f"raytop: recording saved to {out}", file=sys.stderr)
    return gated_exit_code(0, gate, list(failing))


@click.command("record")
@ADDRESS
@click.option("--duration", type=FiniteFloatRange(min=0.1), default=None,
              help="Seconds to record (default: until Ctrl-C).")
@interval_option()
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@FORCE
@INJECT
@PID
@FAIL_ON
@NO_AGENTS
@STALL_AFTER
def command(address, duration, interval, out, force, inject, pid, fail_on, no_agents,
            stall_after) -> None:
    """Attach headless and record to OUT (for tmux, cron, CI)."""
    if no_agents:
        disable_agents()
    set_stall_after(stall_after)
    sys.exit(record_headless(address=address, duration=duration, interval=interval, out=out,
                             force=force, argv=sys.argv, inject=inject, pid=pid,
                             fail_on=fail_on, stall_after=stall_after))
