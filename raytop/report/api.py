"""``write_report``: the entry point behind ``raytop report`` and ``raytop run --report``."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import tempfile
from pathlib import Path

from raytop.errors import BadInput

FORMATS = ("html", "md", "json")
_EXTENSIONS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".json": "json"}


def resolve_format(fmt: str | None, out: Path | None) -> str:
    by_ext = _EXTENSIONS.get(out.suffix.lower()) if out is not None else None
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise BadInput(f"unknown report format {fmt!r}: use html, md or json")
        if out is not None and by_ext is not None and by_ext != fmt:
            raise BadInput(f"--format {fmt} contradicts the output name {out.name} "
                             f"(a .{by_ext} name): rename the output or drop --format")
        return fmt
    if out is None:
        return "html"
    if by_ext is None:
        raise BadInput(f"cannot tell the report format from {out.name!r}: name it .html, .md "
                         "or .json, or pass --format html|md|json")
    return by_ext


def files_dir_for(out: Path) -> Path:
    """Where the Markdown report's chart images go: ``<name>_files/`` beside it."""
    return out.with_name(f"{out.stem}_files")


def _check_output(path: Path, out: Path, fmt: str, force: bool) -> None:
    if out.resolve() == path.resolve():
        raise BadInput(f"the report would overwrite the recording {path}: choose another -o")
    if out.is_dir():
        raise BadInput(f"{out} is a directory: give a file name for the report")
    if not out.parent.is_dir():
        raise BadInput(f"cannot write {out}: directory {out.parent} does not exist")
    if force:
        return
    if out.exists():
        raise BadInput(f"{out} already exists: pass --force to overwrite it")
    files = files_dir_for(out)
    if fmt == "md" and files.is_dir() and any(files.iterdir()):
        raise BadInput(f"{files} already exists: pass --force to overwrite it")


def _write_atomic(out: Path, text: str) -> None:
    """``out`` replaced in one step, private (0600: mkstemp's mode) like the recording."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@contextlib.contextmanager
def _gc_paused():
    """Snapshots are acyclic and live until the report is written; the cyclic collector would
    rescan millions of them again and again (~15 % of the time for a one-hour recording)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def write_report(path: Path, out: Path | None, fmt: str | None,
                 baseline: Path | None = None, force: bool = False) -> Path:
    """Write a report of the recording ``path``; returns the file written.

    ``fmt`` None: from ``out``'s extension (html when ``out`` is None too). ``out`` None: next to
    the recording with the format's extension. ``RecordingError`` for a bad recording,
    ``ValueError`` (one line) for bad option values or an existing output without ``force``.
    """
    path = Path(path)
    out = Path(out) if out is not None else None
    fmt = resolve_format(fmt, out)
    if out is None:
        out = path.with_name(f"{path.stem if path.suffix else path.name}.{fmt}")
    _check_output(path, out, fmt, force)

    with _gc_paused():
        text = _render(path, out, fmt, baseline)
    _write_atomic(out, text)
    return out


def _render(path: Path, out: Path, fmt: str, baseline: Path | None) -> str:
    from raytop.report.build import build_report
    from raytop.report.history import load_history

    history = load_history(path)
    base = load_history(Path(baseline)) if baseline is not None else None
    for loaded in (history, base):
        if loaded is not None and loaded.skipped_note:
            print(f"raytop: {loaded.skipped_note}", file=sys.stderr)
    report = build_report(history, base)
    if fmt == "html":
        from raytop.report.html import render_html

        return render_html(report)
    if fmt == "md":
        from raytop.report.markdown import render_markdown

        return render_markdown(report, files_dir_for(out))
    from raytop.report.json_report import render_json

    return render_json(report)
