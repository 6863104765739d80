"""Command line: argument checks, exit codes, wiring. Bad input → one line on stderr, exit 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import click

from raytop import __version__

EXIT_BAD_INPUT = 2


class FiniteFloatRange(click.FloatRange):
    """FloatRange that also refuses nan (which passes every range comparison)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if rv != rv:
            self.fail(f"{value!r} is not a number.", param, ctx)
        return rv


INTERVAL = FiniteFloatRange(min=0.05, max=60.0)
NO_AGENTS = click.option(
    "--no-agents", is_flag=True,
    help="Start no sampler actors on other nodes: their heap, workers and GPUs stay unknown "
         "(object store, CPU and memory still come from Ray's metrics endpoints).")


def _agents(no_agents: bool) -> None:
    if no_agents:
        from raytop.session import disable_agents

        disable_agents()


class BadInput(Exception):
    """Raised for user errors; main() prints it as one line and exits 2."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="raytop")
def cli() -> None:
    """raytop: a terminal live profiler for Ray Data batch-inference jobs."""


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--headless", is_flag=True, help="No TUI: a status line on stderr.")
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Recording path (default ./raytop-<script>-<UTC time>.raytop).")
@click.option("--no-record", is_flag=True, help="Do not record.")
@click.option("--interval", type=INTERVAL, default=1.0, show_default=True, help="Seconds between snapshots.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a report (.html/.md/.json) when the script ends.")
@click.option("--force", is_flag=True, help="Overwrite an existing recording or report.")
@NO_AGENTS
@click.argument("script", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(headless, record_path, no_record, interval, report_path, force, no_agents, script,
        args) -> None:
    """Run SCRIPT with the probe installed and profile it; exits with the script's code."""
    from raytop.run_command import RunOptions, run_script

    if not script.is_file():
        raise BadInput(f"script not found: {script}" if not script.exists() else f"not a file: {script}")
    if no_record and record_path:
        raise BadInput("--record and --no-record exclude each other")
    if no_record and report_path:
        raise BadInput("--report needs a recording; drop --no-record")
    opts = RunOptions(script=script, args=list(args), headless=headless, interval=interval,
                      record_path=None if no_record else record_path, record=not no_record,
                      report_path=report_path, force=force, argv=sys.argv)
    _agents(no_agents)
    sys.exit(run_script(opts))


INJECT = click.option(
    "--inject", is_flag=True,
    help="Load raytop's probe into the Ray Data drivers running on this node (gdb, or "
         "sys.remote_exec on Python >= 3.14): full figures, the plan and fusion for jobs "
         "started without it. It reads only, and goes quiet when raytop leaves.")
PID = click.option("--pid", type=click.IntRange(min=1), default=None,
                   help="With --inject: only this driver process (implies --inject).")


@cli.command()
@click.option("--address", default=None, help="Ray GCS address HOST:PORT (default: RAY_ADDRESS or auto).")
@click.option("--dataset", "dataset_id", default=None, help="Only this dataset id.")
@click.option("--interval", type=INTERVAL, default=1.0, show_default=True)
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True)
@INJECT
@PID
@NO_AGENTS
def attach(address, dataset_id, interval, record_path, force, inject, pid, no_agents) -> None:
    """Attach to a running cluster or job, read-only, with the live view."""
    from raytop.live_command import attach_live

    _agents(no_agents)
    sys.exit(attach_live(address=address, dataset_id=dataset_id, interval=interval,
                         record_path=record_path, force=force, argv=sys.argv,
                         inject=inject, pid=pid))


@cli.command()
@click.option("--address", default=None, help="Ray GCS address HOST:PORT (default: RAY_ADDRESS or auto).")
@click.option("--duration", type=FiniteFloatRange(min=0.1), default=None, help="Seconds to record (default: until Ctrl-C).")
@click.option("--interval", type=INTERVAL, default=1.0, show_default=True)
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True)
@INJECT
@PID
@NO_AGENTS
def record(address, duration, interval, out, force, inject, pid, no_agents) -> None:
    """Attach headless and record to OUT (for tmux, cron, CI)."""
    from raytop.live_command import record_headless

    _agents(no_agents)
    sys.exit(record_headless(address=address, duration=duration, interval=interval, out=out,
                             force=force, argv=sys.argv, inject=inject, pid=pid))


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
def replay(path) -> None:
    """Replay a recording in the TUI, with a time scrubber."""
    from raytop.recording import RecordingReader
    from raytop.recording.reader import print_skipped
    from raytop.tui import run_replay

    with RecordingReader(path) as reader:  # bad files fail here, before the screen is taken
        print_skipped(reader)
    sys.exit(run_replay(path))


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default=None)
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="An earlier recording to compare against.")
@click.option("--force", is_flag=True, help="Overwrite an existing report.")
def report(path, out, fmt, baseline, force) -> None:
    """Write an HTML, Markdown or JSON report of a recording."""
    from raytop.report import write_report

    written = write_report(path, out, fmt, baseline=baseline, force=force)
    click.echo(f"raytop: report written to {written}", err=True)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--force", is_flag=True)
def export(path, fmt, out, force) -> None:
    """Export a recording: one snapshot JSON per line."""
    from raytop.recording import RecordingReader, export_jsonl

    reader = RecordingReader(path)
    try:
        if out is None:
            export_jsonl(reader, sys.stdout)
            sys.stdout.flush()
        else:
            if out.exists() and not force:
                raise BadInput(f"{out} exists; pass --force to overwrite it")
            # Private like the recording it comes from; never written through a symlink.
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                export_jsonl(reader, fh)
    finally:
        reader.close()


@cli.group()
def probe() -> None:
    """Keep the probe always on (and dormant) in a Python environment."""


PYTHON = click.option("--python", "python_exe", default=None,
                      help="The jobs' Python interpreter (default: the one running raytop).")


@probe.command("enable")
@PYTHON
def probe_enable(python_exe) -> None:
    """Every Ray Data job of the environment carries the probe, dormant until raytop listens."""
    from raytop.attach import always_on

    path = always_on.enable(always_on.inspect_environment(python_exe))
    click.echo(f"raytop: probe enabled for new Python processes of this environment ({path}); "
               "jobs running now are not affected: attach with --inject for those")


@probe.command("disable")
@PYTHON
def probe_disable(python_exe) -> None:
    """Remove the hook; jobs started afterwards run without the probe."""
    from raytop.attach import always_on

    env = always_on.inspect_environment(python_exe)
    removed = always_on.disable(env)
    click.echo(f"raytop: probe disabled ({env.pth} removed)" if removed
               else "raytop: the probe was not enabled in this environment")


@probe.command("status")
@PYTHON
def probe_status(python_exe) -> None:
    """Whether the probe is always on in the environment."""
    from raytop.attach import always_on

    for line in always_on.status_lines(always_on.inspect_environment(python_exe)):
        click.echo(line)


@cli.command()
@click.option("--address", default=None, help="Ray GCS address to check (default: RAY_ADDRESS or auto).")
def doctor(address) -> None:
    """What raytop can see here: Ray, NVML, token auth, the cluster."""
    from raytop.doctor import run_doctor

    sys.exit(run_doctor(address))


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


def main(argv: Optional[list] = None) -> None:
    from raytop.attach.always_on import AlwaysOnError
    from raytop.attach.injector import NotADriver
    from raytop.ray_connect import AddressError

    known = [BadInput, AddressError, NotADriver, AlwaysOnError, FileNotFoundError,
             FileExistsError, IsADirectoryError, PermissionError]
    try:
        from raytop.recording import RecordingError

        known.append(RecordingError)
    except ImportError:
        pass
    try:
        from raytop.sources.bridge import BridgeError

        known.append(BridgeError)
    except ImportError:
        pass
    try:
        cli.main(args=argv, prog_name="raytop", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("raytop: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        click.echo(f"raytop: {_one_line(e)} (see 'raytop {_cmd(e)}--help')", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as e:
        click.echo(f"raytop: {_one_line(e)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except tuple(known) as e:
        click.echo(f"raytop: {_one_line(e)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except ValueError as e:  # report/format option values
        click.echo(f"raytop: {_one_line(e)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except BrokenPipeError:
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)


def _cmd(e: click.UsageError) -> str:
    ctx = getattr(e, "ctx", None)
    if ctx is not None and ctx.info_name and ctx.info_name != "raytop":
        return f"{ctx.info_name} "
    return ""
