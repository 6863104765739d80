"""raytop's command line: the commands (one module each in raytop/commands/) and ``main``, the
one place an error reaches the user: a ``RaytopError`` as one line with its exit code, a usage
mistake as click words it, anything else as the bug it is."""

from __future__ import annotations

import sys

import click

from raytop import __version__
from raytop.commands import attach, doctor, export, probe, record, replay, report, run, stacks, tune
from raytop.errors import EXIT_BAD_INPUT, RaytopError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="raytop")
def cli() -> None:
    """raytop: a terminal live profiler for Ray Data batch-inference jobs."""


for _module in (run, attach, record, replay, report, export, probe, stacks, tune, doctor):
    cli.add_command(_module.command)


def main(argv: list | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="raytop", standalone_mode=False)
    except RaytopError as e:
        click.echo(f"raytop: {_one_line(e)}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("raytop: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        click.echo(f"raytop: {_one_line(e)} (see 'raytop {_command_of(e)}--help')", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as e:
        click.echo(f"raytop: {_one_line(e)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except BrokenPipeError:
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


def _command_of(e: click.UsageError) -> str:
    ctx = getattr(e, "ctx", None)
    if ctx is not None and ctx.info_name and ctx.info_name != "raytop":
        return f"{ctx.info_name} "
    return ""
