"""`raytop probe enable|disable|status`: the probe always on, dormant, in a Python environment
(raytop/attach/always_on.py)."""

from __future__ import annotations

import click

PYTHON = click.option("--python", "python_exe", default=None,
                      help="The jobs' Python interpreter (default: the one running raytop).")


@click.group("probe")
def command() -> None:
    """Keep the probe always on (and dormant) in a Python environment."""


@command.command("enable")
@PYTHON
def enable(python_exe) -> None:
    """Every Ray Data job of the environment carries the probe, dormant until raytop listens."""
    from raytop.attach import always_on

    path = always_on.enable(always_on.inspect_environment(python_exe))
    click.echo(f"raytop: probe enabled for new Python processes of this environment ({path}); "
               "jobs running now are not affected: attach with --inject for those")


@command.command("disable")
@PYTHON
def disable(python_exe) -> None:
    """Remove the hook; jobs started afterwards run without the probe."""
    from raytop.attach import always_on

    env = always_on.inspect_environment(python_exe)
    removed = always_on.disable(env)
    click.echo(f"raytop: probe disabled ({env.pth} removed)" if removed
               else "raytop: the probe was not enabled in this environment")


@command.command("status")
@PYTHON
def status(python_exe) -> None:
    """Whether the probe is always on in the environment."""
    from raytop.attach import always_on

    for line in always_on.status_lines(always_on.inspect_environment(python_exe)):
        click.echo(line)
