"""The Markdown report for GitHub issues and PRs; chart PNGs go to a folder beside it."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from raytop import format as fmt
from raytop.report import tables
from raytop.report.build import Report
from raytop.report.charts import render_png
from raytop.report.series import build_charts

_VERDICT = {"better": " ✅", "worse": " ⚠️"}


# C0/C1 controls (terminal escapes), DEL, and the bidi overrides that reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Markdown punctuation that can start a link, an image, emphasis, code, math or a table cell.
_INLINE = re.compile(r"[\\`*_\[\]()!|~$&<>]")
# What turns the start of a paragraph or heading into a heading, quote, list or setext underline.
_BLOCK_START = re.compile(r"^(?:([#>+=-])|\d+([.)]))")


def _flat(text: str) -> str:
    """One line without control characters (tabs and newlines become spaces)."""
    return _CONTROL.sub(lambda m: " " if m.group(0) in "\t\n\r" else "", str(text))


def _text(text: str, block: bool = False) -> str:
    """Text from a recording (names, errors, commands) as inert Markdown: no HTML, link, image,
    emphasis or code; ``block`` also for the start of a paragraph or heading."""
    out = _INLINE.sub(lambda m: _HTML.get(m.group(0), "\\" + m.group(0)), _flat(text))
    if block:
        out = _BLOCK_START.sub(
            lambda m: "\\" + m.group(1) if m.group(1) else m.group(0)[:-1] + "\\" + m.group(2),
            out)
    return out


def _cell(text: str) -> str:
    return _text(text)


def _code(text: str) -> str:
    """An inline code span that no backtick in ``text`` can close early."""
    text = _flat(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _table(headers: Sequence[str], rows, numeric=None) -> list[str]:
    numeric = numeric or [False] * len(headers)
    out = ["| " + " | ".join(_cell(h) for h in headers) + " |",
           "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def _fence(text: str) -> list[str]:
    text = _CONTROL.sub(lambda m: m.group(0) if m.group(0) in "\t\n" else "", text)
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return [ticks, text, ticks, ""]


def _write_private(path: Path, data: bytes) -> None:
    """A new file, 0600, never written through a symlink (an old one is removed first)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def render_markdown(report: Report, files_dir: Path) -> str:
    """Markdown text; writes one PNG per drawn chart into ``files_dir`` (created if needed)."""
    doc = report.doc
    s = doc["summary"]
    out = [f"# {_text(tables.title(doc))}", ""]
    out += [" · ".join(f"**{_text(k)}** {_text(v)}" for k, v in tables.summary_cards(doc)), ""]
    out += ["## Summary", ""] + _table(("Figure", "Value"), tables.summary_rows(doc))

    cmp = doc.get("comparison")
    if cmp is not None:
        out += ["## Comparison", "",
                f"Before: {_code(cmp['baseline'])} → after: {_code(cmp['current'])}", ""]
        rows = [(c[0], c[1], c[2], c[3] + _VERDICT.get(v or "", "")) for c, v in tables.comparison_rows(cmp)]
        out += _table(tables.COMPARISON_HEADERS, rows, (False, True, True, True))
        for key, label in (("disappeared", "Disappeared"), ("appeared", "Appeared"),
                           ("remaining", "Still active")):
            items = cmp["suggestions"][key]
            out.append(f"**{label}:** " + (", ".join(
                f"{_code(x['rule'])} {_text(x['title'])}" for x in items) if items else "none"))
            out.append("")

    out += ["## Suggestions", ""]
    if not doc["suggestions"]:
        out += ["The advisor found nothing to change in this recording.", ""]
    for i, sug in enumerate(doc["suggestions"], 1):
        out += [f"### {i}. {_text(tables.suggestion_line(sug))}", "",
                f"_{_text(tables.suggestion_meta(sug, s['start_t']))}_", "",
                _text(sug["evidence"], block=True), ""]
        out += _fence(sug["fix"])

    out += _timelines(report, files_dir)

    out += ["## Operators", ""]
    out += _table(tables.OPERATOR_HEADERS, tables.operator_rows(doc), tables.OPERATOR_NUMERIC)

    percentiles = tables.percentile_rows(doc)  # only when a histogram was read
    if percentiles:
        out += ["## Percentiles", "", _text(tables.PERCENTILE_NOTE, block=True), ""]
        out += _table(tables.PERCENTILE_HEADERS, percentiles, tables.PERCENTILE_NUMERIC)

    out += _plan_section(doc)

    consumer = tables.consumer_rows(doc)  # only when the driver's loop iterated a dataset
    if consumer:
        out += ["## Consumer", ""] + _table(tables.CONSUMER_HEADERS, consumer, tables.CONSUMER_NUMERIC)

    out += ["## Datasets", ""]
    out += _table(tables.DATASET_HEADERS, tables.dataset_rows(doc), tables.DATASET_NUMERIC)
    out += [f"<sub>Made by raytop {_text(s['report_raytop_version'])} on "
            f"{_text(doc['generated_utc'])}.</sub>", ""]
    return "\n".join(out)


def _timelines(report: Report, files_dir: Path) -> list[str]:
    out = ["## Timelines", ""]
    files_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = urllib.parse.quote(files_dir.name)
    for chart in build_charts(report.history):
        png = render_png(chart)
        if png is None:
            (files_dir / f"{chart.key}.png").unlink(missing_ok=True)  # no stale image from before
            out += [f"**{_text(chart.title)}:** {_text(chart.note)}", ""]
            continue
        _write_private(files_dir / f"{chart.key}.png", png)
        out += [f"![{_text(chart.title)}]({folder}/{urllib.parse.quote(chart.key)}.png)", ""]
    return out


def _plan_section(doc: dict) -> list[str]:
    out = ["## Plan", ""]
    if not doc["plan"]:
        out += ["No plan was captured (the probe was not attached).", ""]
    for dsid, plan in doc["plan"].items():
        out += [f"**Dataset {_code(dsid)}**", ""]
        out += [f"- {_code(p)} runs {_text(names)}"
                for p, names in tables.group_lines(plan, tables.graph_labels(doc, dsid))] + [""]
        edges = tables.graph_edge_lines(doc.get("graphs", {}).get(dsid))
        if edges:
            out += ["Edges (a graph: branches meet at a zip, union or join):", ""]
            out += [f"- {_text(line)}" for line in edges] + [""]
        unfused = [(c, r) for c, r in tables.boundary_rows(plan, tables.graph_labels(doc, dsid))
                   if c[2] == "no"]
        if unfused:
            rows = [(c[0], c[1], c[2], "; ".join(tables.reason_text(x) for x in r) or fmt.NA)
                    for c, r in unfused]
            out += _table(tables.BOUNDARY_HEADERS, rows)
    return out
