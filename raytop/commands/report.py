"""`raytop report`: an HTML, Markdown or JSON report of a recording (docs/report.md)."""

from __future__ import annotations

from pathlib import Path

import click

from raytop.commands.common import FORCE


@click.command("report")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=None)
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default=None)
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="An earlier recording to compare against.")
@FORCE
def command(path, out, fmt, baseline, force) -> None:
    """Write an HTML, Markdown or JSON report of a recording."""
    from raytop.report import write_report

    written = write_report(path, out, fmt, baseline=baseline, force=force)
    click.echo(f"raytop: report written to {written}", err=True)
