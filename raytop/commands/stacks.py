"""`raytop stacks --operator NAME`: the Python stacks of an operator's busiest workers, on this
node and, through raytop's sampler actors, on the others (py-spy; ``pip install 'raytop[stacks]'``)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable

import click

from raytop.commands.common import ADDRESS, connect_bridge
from raytop.errors import RaytopError
from raytop.stacks import MISSING, WorkerStack, common_failure, format_stacks

VIEW_WORKERS = 3  # busiest workers per node, for the view's ``s`` key (the command's default)

_INDEX = re.compile(r"\s+#\d+$")


def operator_title_name(operator: str) -> tuple[str, list[str]]:
    """The name process titles carry for ``operator`` (a '#index' label loses its index), and
    what that means for operators that share it."""
    name = _INDEX.sub("", operator.strip())
    notes = []
    if name != operator.strip():
        notes.append(f"process titles carry only the name {name!r}: the workers of every "
                     "operator of that name are candidates")
    return name, notes


def collect_stacks(bridge, name: str, workers: int, native: bool) -> list[WorkerStack]:
    stacks = list(bridge.call("processes", "stacks", name, workers, native))
    try:
        stacks += bridge.call("samplers", "stacks", name, workers, native)
    except RaytopError:
        pass  # no other node, or --no-agents: this node is all there is
    except Exception:  # noqa: BLE001 - a source absent in the bridge (single node)
        pass
    return stacks


def no_worker_note(name: str) -> str:
    return (f"no running worker of {name} found (titles ray::MapWorker({name}) for actors, "
            f"ray::{name} for tasks while they run)")


def view_stacks(session, workers: int = VIEW_WORKERS) -> Callable[[str], str]:
    """What the live view's ``s`` key runs (in a thread worker) for an operator's label: the
    text `raytop stacks --operator LABEL` prints, through the session's bridge (``session``: a
    ``cluster_session.ClusterSession``). Raises with one line when there are no stacks to show:
    py-spy missing here, the cluster not known yet, or every worker refused for one reason
    (py-spy missing on their node, no rights to trace them)."""

    def stacks(operator: str) -> str:
        if shutil.which("py-spy") is None:
            raise RaytopError(MISSING)
        name, notes = operator_title_name(operator)
        found = collect_stacks(session.ready_bridge(), name, workers, False)
        reason = common_failure(found)
        if reason is not None:
            raise RaytopError(reason)
        if not found:
            notes.append(no_worker_note(name))
        return format_stacks(name, found, notes)

    return stacks


@click.command("stacks")
@ADDRESS
@click.option("--operator", "operator", required=True,
              help="The operator, as raytop shows it (e.g. 'MapBatches(Model)').")
@click.option("-n", "--workers", type=click.IntRange(min=1, max=64), default=3,
              show_default=True, help="Busiest workers per node.")
@click.option("--native", is_flag=True, help="Include native (C/C++) frames.")
def command(address, operator, workers, native) -> None:
    """Dump the Python stacks of an operator's busiest workers (py-spy)."""
    from raytop.sources.bridge import RayBridge  # noqa: F401 - fail early when missing

    if shutil.which("py-spy") is None:
        raise RaytopError(MISSING)
    name, notes = operator_title_name(operator)
    bridge = connect_bridge(address, names=("processes", "samplers"))
    try:
        stacks = collect_stacks(bridge, name, workers, native)
    finally:
        bridge.close()
    if not stacks:
        notes.append(no_worker_note(name))
    click.echo(format_stacks(name, stacks, notes))
