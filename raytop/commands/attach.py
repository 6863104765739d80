"""`raytop attach`: the live view of a running cluster and its jobs, read-only; with
``--inject`` (or the ``i`` key) the probe is loaded into their drivers (docs/attach.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from raytop.commands.cluster_session import open_session
from raytop.commands.common import (
    ADDRESS,
    FORCE,
    INJECT,
    NO_AGENTS,
    PID,
    STALL_AFTER,
    add_injector,
    build_collector,
    disable_agents,
    interval_option,
    make_probe_listener,
    open_recording,
    refuse_existing,
    set_stall_after,
)


def attach_live(*, address, dataset_id, interval, record_path, force, argv,
                inject: bool = False, pid=None, stall_after=None) -> int:
    from raytop.commands.stacks import view_stacks
    from raytop.tui import run_live

    refuse_existing(record_path, force)
    session = open_session(address)
    probe = make_probe_listener(dataset_id=dataset_id, cluster=session.address)
    collector = build_collector(session=session, probe=probe, interval=interval)
    injector = add_injector(session, probe, collector, inject=inject, pid=pid)
    writer = open_recording(record_path, force, argv, interval, session.link.ray_version,
                            stall_after)
    if writer is not None:
        collector.add_sink(writer)
    try:
        collector.start()
        return run_live(collector, title="raytop attach", address=session.address,
                        injector=injector, stacks=view_stacks(session))
    finally:
        collector.stop()
        if writer is not None:
            writer.close()
        session.close()
        if record_path is not None:
            print(f"raytop: recording saved to {record_path}", file=sys.stderr)


@click.command("attach")
@ADDRESS
@click.option("--dataset", "dataset_id", default=None, help="Only this dataset id.")
@interval_option()
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also record to this file.")
@FORCE
@INJECT
@PID
@NO_AGENTS
@STALL_AFTER
def command(address, dataset_id, interval, record_path, force, inject, pid, no_agents,
            stall_after) -> None:
    """Attach to a running cluster and its jobs, with the live view."""
    if no_agents:
        disable_agents()
    set_stall_after(stall_after)
    sys.exit(attach_live(address=address, dataset_id=dataset_id, interval=interval,
                         record_path=record_path, force=force, argv=sys.argv,
                         inject=inject, pid=pid, stall_after=stall_after))
