"""`raytop export`: a recording as one snapshot JSON per line (``jsonl``), or as a Chrome /
Perfetto trace (``perfetto``: open it in ui.perfetto.dev)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from raytop.commands.common import FORCE, refuse_existing
from raytop.errors import BadInput


def export_to(path: Path, out, force: bool, fmt: str = "jsonl") -> None:
    from raytop.recording import RecordingReader, export_jsonl
    from raytop.recording.perfetto import export_perfetto

    write = export_perfetto if fmt == "perfetto" else export_jsonl
    with RecordingReader(path) as reader:
        if out is None:
            write(reader, sys.stdout)
            sys.stdout.flush()
            return
        refuse_existing(out, force)
        try:
            # Private like the recording it comes from; never written through a symlink.
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise BadInput(f"cannot write {out}: {e.strerror}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(reader, fh)


@click.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "perfetto"]), default="jsonl",
              show_default=True,
              help="jsonl: one snapshot per line; perfetto: a trace for ui.perfetto.dev.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=None)
@FORCE
def command(path, fmt, out, force) -> None:
    """Export a recording: snapshots as JSON lines, or a Perfetto trace."""
    export_to(path, out, force, fmt)
