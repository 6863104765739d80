"""The Textual TUI: the only package that imports textual (imported lazily by the entry points,
so other commands stay fast)."""

from __future__ import annotations

from pathlib import Path


def run_live(collector, *, title: str, address: str | None, log_path: Path | None = None,
             job=None, injector=None, stacks=None) -> int:
    """The live view over ``collector`` until the user quits.

    Adds a sink to the collector and starts it (``start`` is idempotent); does not stop it, so the
    caller can stop it with a final tick for the recording. ``job`` (``raytop run``): an object with
    ``poll()``, ``log_lines(max_lines)``, ``wait(timeout)`` and ``pid`` (``feeds.Job``); its log
    tail is shown in a panel and, once it ended (``wait`` then lets its last output arrive), the
    view stays with its exit code until ``q``. ``injector`` (``raytop attach``): the
    ``i`` key loads the probe into the chosen dataset's driver through it. ``stacks``: what the
    ``s`` key runs for the chosen operator (``raytop.commands.stacks.view_stacks``). Returns 0.
    """
    from raytop.tui.app import LiveApp

    app = LiveApp(collector, title=title, address=address, job=job, log_path=log_path,
                  injector=injector, stacks=stacks)
    app.run()
    return 0


def run_replay(path: Path, *, play: bool = False) -> int:
    """The same screens over a recording, with a scrubber, opened on the first snapshot with a
    running dataset; ``play``: playing from there. ``RecordingError`` propagates."""
    from raytop.recording import RecordingReader
    from raytop.tui.app import ReplayApp

    reader = RecordingReader(path)
    try:
        app = ReplayApp(reader, title=f"replay {Path(path).name}", play=play)
    except BaseException:
        reader.close()
        raise
    app.run()
    return 0
