"""`raytop export`: a recording as one snapshot JSON per line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from raytop.commands.common import FORCE, refuse_existing
from raytop.errors import BadInput


def export_to(path: Path, out, force: bool) -> None:
    from raytop.recording import RecordingReader, export_jsonl

    with RecordingReader(path) as reader:
        if out is None:
            export_jsonl(reader, sys.stdout)
            sys.stdout.flush()
            return
        refuse_existing(out, force)
        try:
            # Private like the recording it comes from; never written through a symlink.
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise BadInput(f"cannot write {out}: {e.strerror}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            export_jsonl(reader, fh)


@click.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl",
              show_default=True)
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=None)
@FORCE
def command(path, fmt, out, force) -> None:
    """Export a recording: one snapshot JSON per line."""
    export_to(path, out, force)
