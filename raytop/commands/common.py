"""What the commands share: the sources a live session reads, the collector, recording meta,
the probe listener, and the options several commands take."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import click

from raytop import __version__
from raytop.collector import Collector
from raytop.errors import OutputExists
from raytop.sources.base import Part, SourceAbsent
from raytop.sources.bridge import BridgeError, RayBridge

BRIDGED = ("cluster", "stats", "processes", "samplers", "drivers")  # all of them, in the bridge


def disable_agents() -> None:
    """--no-agents: no sampler actors (the bridge process inherits the setting); other nodes'
    heap and GPUs are then unknown (docs/scaling.md lists the fields)."""
    from raytop.sources.sampler import NO_AGENTS_ENV

    os.environ[NO_AGENTS_ENV] = "1"


class LazyBridgedSource:
    """A bridged source whose cluster address may only become known later (``raytop run``:
    the probe reports it once the script's Ray Data execution starts)."""

    def __init__(self, bridge: RayBridge, name: str, address_of: Callable[[], str | None]):
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


def make_probe_source(pids=None, dataset_id: str | None = None, cluster: str | None = None):
    from raytop.sources.probe_source import ProbeSource

    return ProbeSource(pids=pids, dataset_id=dataset_id, cluster=cluster)


def make_gpu_source():
    from raytop.sources.gpu import GpuSource

    return GpuSource()


def build_collector(*, session, probe, interval: float) -> Collector:
    """The collector of a live session: the probe, the cluster's sources (``session``: a
    ``cluster_session.ClusterSession``), this machine's GPUs."""
    sources: list = []
    if probe is not None:
        sources.append(probe)
    sources.extend(session.sources())
    sources.append(make_gpu_source())
    return Collector(sources, interval=interval)


def recording_meta(command: Sequence[str], interval: float, ray_version: str | None,
                   stall_after: float | None = None) -> dict:
    meta = {
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
    if stall_after is not None:  # the report judges stalls as the live view did
        from raytop.analysis.progress import META_KEY

        meta[META_KEY] = stall_after
    return meta


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return None


def default_recording_path(script: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / f"raytop-{Path(script).stem}-{stamp}.raytop"


def installed_ray_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("ray")
    except Exception:  # noqa: BLE001
        return None


def connect_bridge(address: str | None, names: Sequence[str] = BRIDGED) -> RayBridge:
    """A driver bridge to the cluster at ``address`` (default RAY_ADDRESS, else auto),
    connected, with the sources ``names`` (``raytop stacks``: the samplers need a driver); a
    bad or unreachable address is one line."""
    from raytop.ray_connect import check_reachable, normalize_address

    addr = normalize_address(address or os.environ.get("RAY_ADDRESS") or "auto")
    check_reachable(addr)
    bridge = RayBridge(addr, names)
    bridge.connect()
    return bridge


def add_injector(session, probe, collector, *, inject: bool, pid: int | None):
    """The session's injector, as a collector sink; ``--pid`` must name a driver of the
    cluster (NotADriver otherwise)."""
    from raytop.attach.injector import Injector, check_requested_pid

    if pid is not None:
        check_requested_pid(pid, session.drivers(), session.address)
    injector = Injector(probe.channel_for, probe.wait_for_hello, collector.emit_event,
                        auto=inject, pid=pid)
    collector.add_sink(injector)
    return injector


def open_recording(out: Path | None, force: bool, argv: Sequence[str], interval: float,
                   ray_version: str | None, stall_after: float | None = None):
    """A RecordingWriter for ``out`` (None: no recording); RecordingError says why not."""
    if out is None:
        return None
    from raytop.recording import RecordingWriter

    return RecordingWriter(out, meta=recording_meta(argv, interval, ray_version, stall_after),
                           force=force)


def refuse_existing(path: Path | None, force: bool) -> None:
    if path is not None and path.exists() and not force:
        raise OutputExists(path)


def make_probe_listener(pids=None, dataset_id: str | None = None, cluster: str | None = None):
    """The probe source, listening (to the drivers of ``cluster``, a GCS address, when given); a
    note on stderr when it had to listen somewhere unusual."""
    probe = make_probe_source(pids=pids, dataset_id=dataset_id, cluster=cluster)
    if probe.fallback_note:
        print(f"raytop: {probe.fallback_note}", file=sys.stderr)
    return probe


# ---- options several commands take ----------------------------------------------------------

class FiniteFloatRange(click.FloatRange):
    """FloatRange that also refuses nan (which passes every range comparison)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if rv != rv:
            self.fail(f"{value!r} is not a number.", param, ctx)
        return rv


INTERVAL = FiniteFloatRange(min=0.05, max=60.0)
ADDRESS = click.option("--address", default=None,
                       help="Ray GCS address HOST:PORT (default: RAY_ADDRESS or auto).")
FORCE = click.option("--force", is_flag=True, help="Overwrite an existing output.")
NO_AGENTS = click.option(
    "--no-agents", is_flag=True,
    help="Start no sampler actors on other nodes: a node whose dashboard agent does not answer "
         "then has unknown heap, workers, CPU, memory and GPUs (its object store stays known).")
INJECT = click.option(
    "--inject", is_flag=True,
    help="Load raytop's probe into the Ray Data drivers running on this node (gdb, or "
         "sys.remote_exec on Python >= 3.14): full figures, the plan and fusion for jobs "
         "started without it. It reads only, and goes quiet when raytop leaves.")
PID = click.option("--pid", type=click.IntRange(min=1), default=None,
                   help="With --inject: only this driver process (implies --inject).")


FAIL_ON = click.option(
    "--fail-on", type=click.Choice(["warning", "critical"]), default=None,
    help="CI gate: exit 3 when the advisor raised a finding at this level or above (a failed "
         "script's own exit code comes first); the findings go to stderr and the recording.")


STALL_AFTER = click.option(
    "--stall-after", "stall_after", type=FiniteFloatRange(min=1.0), default=None, metavar="SECONDS",
    help="Raise `stalled` (critical) when a running dataset makes no progress (no rows, blocks or "
         "finished tasks out of any operator) for this long (default 60).")


def set_stall_after(seconds: float | None) -> None:
    """--stall-after: the stall threshold of every advisor of this session (live view, status
    line, --fail-on, the report written at the end)."""
    if seconds is not None:
        from raytop.analysis.progress import set_default_stall_s

        set_default_stall_s(seconds)


def interval_option(default: float = 1.0):
    return click.option("--interval", type=INTERVAL, default=default, show_default=True,
                        help="Seconds between snapshots.")
