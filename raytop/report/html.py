"""The self-contained HTML report: inline CSS and inline SVG charts, no script, no external URL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

from raytop import format as fmt
from raytop.report import tables
from raytop.report.build import Report
from raytop.report.charts import render_svg
from raytop.report.graph_svg import render_graph_svg
from raytop.report.series import build_charts

_CSS = Path(__file__).with_name("report.css")


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric=None,
           cls: str = "") -> str:
    numeric = numeric or [False] * len(headers)
    head = "".join(f'<th{" class=n" if n else ""}>{escape(h)}</th>'
                   for h, n in zip(headers, numeric, strict=True))
    body = "".join(
        "<tr>" + "".join(f'<td{" class=n" if n else ""}>{escape(c)}</td>'
                         for c, n in zip(row, numeric, strict=True))
        + "</tr>" for row in rows)
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _summary(doc: dict) -> str:
    cards = "".join(f'<div class="card"><div class="k">{escape(k)}</div>'
                    f'<div class="v">{escape(v)}</div></div>' for k, v in tables.summary_cards(doc))
    kv = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>"
                 for k, v in tables.summary_rows(doc))
    return f'<div class="cards">{cards}</div><table class="kv"><tbody>{kv}</tbody></table>'


def _comparison(cmp: dict) -> str:
    rows = []
    for cells, verdict in tables.comparison_rows(cmp):
        cls = f' class="n {verdict}"' if verdict in ("better", "worse") else " class=n"
        rows.append(f"<tr><td>{escape(cells[0])}</td><td class=n>{escape(cells[1])}</td>"
                    f"<td class=n>{escape(cells[2])}</td><td{cls}>{escape(cells[3])}</td></tr>")
    head = "".join(f"<th{' class=n' if i else ''}>{h}</th>"
                   for i, h in enumerate(tables.COMPARISON_HEADERS))
    out = [f"<p>Before: <code>{escape(cmp['baseline'] or '')}</code> → after: "
           f"<code>{escape(cmp['current'] or '')}</code></p>",
           f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"]
    for key, label in (("disappeared", "Suggestions that disappeared"),
                       ("appeared", "Suggestions that appeared"),
                       ("remaining", "Suggestions still active")):
        items = cmp["suggestions"][key]
        lis = "".join(f"<li><span class=\"badge {escape(s['severity'])}\">{escape(s['severity'])}"
                      f"</span>{escape(s['title'])} <code>{escape(s['rule'])}</code></li>"
                      for s in items) or "<li class=note>none</li>"
        out.append(f"<h3>{label}</h3><ul>{lis}</ul>")
    return "".join(out)


def _suggestions(doc: dict) -> str:
    if not doc["suggestions"]:
        return "<p class=note>The advisor found nothing to change in this recording.</p>"
    start = doc["summary"]["start_t"]
    out = []
    for s in doc["suggestions"]:
        sev = escape(s["severity"])
        operator = f" <code>{escape(s['operator'])}</code>" if s.get("operator") else ""
        out.append(
            f'<article class="sugg sev-{sev}"><h3><span class="badge">{sev}</span>'
            f"{escape(s['title'])}{operator}</h3>"
            f'<p class="meta">{escape(tables.suggestion_meta(s, start))}</p>'
            f"<p>{escape(s['evidence'])}</p><pre><code>{escape(s['fix'])}</code></pre></article>")
    return "".join(out)


def _timelines(report: Report) -> str:
    out = []
    for chart in build_charts(report.history):
        svg = render_svg(chart, salt=chart.key)
        if svg is None:
            out.append(f'<h3>{escape(chart.title)}</h3><p class="note">{escape(chart.note)}</p>')
        else:
            out.append(f'<figure id="chart-{chart.key}">{svg}</figure>')
    return "".join(out)


def _graph(doc: dict, dsid: str) -> str:
    graph = doc.get("graphs", {}).get(dsid)
    if not graph:
        return ""
    if not graph["edges_known"]:
        note = ("<p class=note>Which operator feeds which is not known without the probe "
                "(several input buffers): operators in Ray's topology order.</p>")
    else:
        note = ("<p class=note>Physical operators top to bottom in topology order, branches side "
                "by side; edges carry the blocks queued on them while the dataset ran (mean / "
                "peak, peak bytes); orange edges were not fused (hover for why); dashed boxes join "
                "branches (zip, union, join); red is the bottleneck.</p>")
    return note + f'<div class="scroll">{render_graph_svg(graph)}</div>'


def _plan(doc: dict) -> str:
    if not doc["plan"]:
        graphs = "".join(f"<h3>Dataset <code>{escape(dsid)}</code></h3>{_graph(doc, dsid)}"
                         for dsid in doc.get("graphs", {}))
        return graphs + "<p class=note>No plan was captured (the probe was not attached).</p>"
    out = []
    for dsid, plan in doc["plan"].items():
        out.append(f"<h3>Dataset <code>{escape(dsid)}</code></h3>")
        out.append(_graph(doc, dsid))
        groups = "".join(f"<li><code>{escape(p)}</code> runs {escape(names)}</li>"
                         for p, names in tables.group_lines(plan, tables.graph_labels(doc, dsid)))
        out.append(f"<p>Physical operators and the logical operators fused into each:</p>"
                   f"<ul>{groups}</ul>")
        if not plan["reasons_known"]:
            out.append("<p class=note>Only operator names were captured (no probe): the reasons "
                       "for unfused boundaries are unknown.</p>")
        rows = []
        for cells, reasons in tables.boundary_rows(plan, tables.graph_labels(doc, dsid)):
            why = "<br>".join(
                f'<span class="badge {"fix" if r["fixable"] else "nofix"}">'
                f'{"fixable" if r["fixable"] else "by design"}</span>{escape(r["text"])}'
                for r in reasons)
            rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells[:3])
                        + f"<td>{why}</td></tr>")
        if rows:
            head = "".join(f"<th>{h}</th>" for h in tables.BOUNDARY_HEADERS)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return "".join(out)


def _datasets(doc: dict) -> str:
    out = [_table(tables.DATASET_HEADERS, tables.dataset_rows(doc), tables.DATASET_NUMERIC)]
    events: list[dict] = doc["events"]
    if events:
        start = doc["summary"]["start_t"]
        lines = "\n".join(tables.event_line(ev, start) for ev in events)
        more = doc["events_total"] - len(events)
        extra = f" (first {len(events)} of {doc['events_total']})" if more > 0 else ""
        out.append(f"<details><summary>Events{extra}</summary><pre>{escape(lines)}</pre></details>")
    return "".join(out)


def render_html(report: Report) -> str:
    doc = report.doc
    cmp: dict | None = doc.get("comparison")
    sections = [("summary", _summary(doc))]
    if cmp is not None:
        sections.append(("comparison", _comparison(cmp)))
    sections += [
        ("suggestions", _suggestions(doc)),
        ("timelines", _timelines(report)),
        ("plan", _plan(doc)),
        ("operators", _table(tables.OPERATOR_HEADERS, tables.operator_rows(doc),
                             tables.OPERATOR_NUMERIC, cls="ops")),
    ]
    percentiles = tables.percentile_rows(doc)  # only when a histogram was read
    if percentiles:
        sections.append(("percentiles", f"<p>{escape(tables.PERCENTILE_NOTE)}</p>" + _table(
            tables.PERCENTILE_HEADERS, percentiles, tables.PERCENTILE_NUMERIC)))
    consumer = tables.consumer_rows(doc)  # only when the driver's loop iterated a dataset
    if consumer:
        sections.append(("consumer", _table(tables.CONSUMER_HEADERS, consumer, tables.CONSUMER_NUMERIC)))
    sections.append(("datasets", _datasets(doc)))
    names = dict(tables.SECTIONS)
    nav = "".join(f'<a href="#{key}">{names[key]}</a>' for key, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{names[key]}</h2>{html}</section>'
                   for key, html in sections)
    s = doc["summary"]
    title = tables.title(doc)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS.read_text(encoding='utf-8')}</style></head>"
        f"<body><header><h1>{escape(title)}</h1>"
        f'<p class="sub">Started {escape(fmt.fmt_utc(s["start_t"]))} · '
        f"{escape(fmt.fmt_seconds(s['duration_s']))} · Ray {escape(s['ray_version'] or fmt.NA)} · "
        f"report generated {escape(doc['generated_utc'])}</p><nav>{nav}</nav></header>"
        f"<main>{body}</main><footer>Made by raytop {escape(s['report_raytop_version'])}. "
        "This file is self-contained: it loads nothing from the network. Charts: matplotlib."
        "</footer></body></html>\n")
