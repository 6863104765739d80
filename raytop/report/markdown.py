"""The Markdown report for GitHub issues and PRs; chart PNGs go to a folder beside it."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import List, Sequence

from raytop.report import fmt, tables
from raytop.report.build import Report
from raytop.report.charts import render_png
from raytop.report.series import build_charts

_VERDICT = {"better": " ✅", "worse": " ⚠️"}


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows, numeric=None) -> List[str]:
    numeric = numeric or [False] * len(headers)
    out = ["| " + " | ".join(_cell(h) for h in headers) + " |",
           "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def _fence(text: str) -> List[str]:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return [ticks, text, ticks, ""]


def render_markdown(report: Report, files_dir: Path) -> str:
    """Markdown text; writes one PNG per drawn chart into ``files_dir`` (created if needed)."""
    doc = report.doc
    s = doc["summary"]
    out = [f"# {tables.title(doc)}", ""]
    out += [" · ".join(f"**{k}** {v}" for k, v in tables.summary_cards(doc)), ""]
    out += ["## Summary", ""] + _table(("Figure", "Value"), tables.summary_rows(doc))

    cmp = doc.get("comparison")
    if cmp is not None:
        out += ["## Comparison", "", f"Before: `{cmp['baseline']}` → after: `{cmp['current']}`", ""]
        rows = [(c[0], c[1], c[2], c[3] + _VERDICT.get(v, "")) for c, v in tables.comparison_rows(cmp)]
        out += _table(tables.COMPARISON_HEADERS, rows, (False, True, True, True))
        for key, label in (("disappeared", "Disappeared"), ("appeared", "Appeared"),
                           ("remaining", "Still active")):
            items = cmp["suggestions"][key]
            out.append(f"**{label}:** " + (", ".join(
                f"`{x['rule']}` {x['title']}" for x in items) if items else "none"))
            out.append("")

    out += ["## Suggestions", ""]
    if not doc["suggestions"]:
        out += ["The advisor found nothing to change in this recording.", ""]
    for i, sug in enumerate(doc["suggestions"], 1):
        out += [f"### {i}. {tables.suggestion_line(sug)}", "",
                f"_{tables.suggestion_meta(sug, s['start_t'])}_", "", sug["evidence"], ""]
        out += _fence(sug["fix"])

    out += ["## Timelines", ""]
    files_dir.mkdir(parents=True, exist_ok=True)
    folder = urllib.parse.quote(files_dir.name)
    for chart in build_charts(report.history):
        png = render_png(chart)
        if png is None:
            (files_dir / f"{chart.key}.png").unlink(missing_ok=True)  # no stale image from before
            out += [f"**{chart.title}:** {chart.note}", ""]
            continue
        (files_dir / f"{chart.key}.png").write_bytes(png)
        out += [f"![{chart.title}]({folder}/{chart.key}.png)", ""]

    out += ["## Operators", ""]
    out += _table(tables.OPERATOR_HEADERS, tables.operator_rows(doc), tables.OPERATOR_NUMERIC)

    out += ["## Plan", ""]
    if not doc["plan"]:
        out += ["No plan was captured (the probe was not attached).", ""]
    for dsid, plan in doc["plan"].items():
        out += [f"**Dataset `{dsid}`**", ""]
        out += [f"- `{p}` runs {names}" for p, names in tables.group_lines(plan)] + [""]
        unfused = [(c, r) for c, r in tables.boundary_rows(plan) if c[2] == "no"]
        if unfused:
            rows = [(c[0], c[1], c[2], "; ".join(tables.reason_text(x) for x in r) or fmt.NA)
                    for c, r in unfused]
            out += _table(tables.BOUNDARY_HEADERS, rows)

    out += ["## Datasets", ""]
    out += _table(tables.DATASET_HEADERS, tables.dataset_rows(doc), tables.DATASET_NUMERIC)
    out += [f"<sub>Made by raytop {s['report_raytop_version']} on {doc['generated_utc']}.</sub>", ""]
    return "\n".join(out)
