"""`raytop replay`: the live view's screens over a recording, with a time scrubber."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("replay")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--play", is_flag=True, help="Start playing at once (Space pauses).")
def command(path: Path, play: bool) -> None:
    """Replay a recording in the TUI, with a time scrubber. It opens on the first snapshot in
    which a dataset is running (the first one when none ever runs)."""
    from raytop.analysis.progress import set_default_stall_s, stall_s_of
    from raytop.recording import RecordingReader
    from raytop.recording.reader import print_skipped
    from raytop.tui import run_replay

    with RecordingReader(path) as reader:  # bad files fail here, before the screen is taken
        print_skipped(reader)
        set_default_stall_s(stall_s_of(reader.meta))  # stalls judged as when it was recorded
    sys.exit(run_replay(path, play=play))
