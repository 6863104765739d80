"""Percentiles in the report: the JSON fields (schema-valid), the Markdown and HTML tables, and
the stragglers finding, from a hand-built history; none of it for a recording without them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import jsonschema

from raytop.report.build import build_report
from raytop.report.history import History, load_history
from raytop.report.html import render_html
from raytop.report.json_report import load_schema
from raytop.report.markdown import render_markdown
from tests.analysis import scenarios as sc

DATA = Path(__file__).resolve().parent.parent / "data"


def _report():
    snaps = tuple(sc.stragglers())
    # the last reading has no observation in block_rows yet: the earlier one with counts is kept
    last = snaps[-1]
    ds = last.datasets[0]
    ops = tuple(replace(o, tails=replace(o.tails, block_rows=replace(o.tails.block_rows, count=0,
                                                                    p50=None, p90=None, p99=None)))
                if o.tails is not None else o for o in ds.operators)
    snaps = (*snaps[:-1], replace(last, datasets=(replace(ds, operators=ops),)))
    return build_report(History(snapshots=snaps, name="stragglers"))


def test_json_fields_and_the_finding():
    doc = _report().doc
    jsonschema.validate(doc, load_schema())
    pre = next(o for o in doc["operators"] if o["name"] == sc.PRE)
    assert pre["task_s"] == {"p50": 0.2, "p90": 0.4, "p99": 0.9, "count": 40}
    assert pre["block_rows"]["count"] == 40 and pre["block_rows"]["p99"] == 9000
    model = next(o for o in doc["operators"] if o["name"] == sc.MODEL)
    assert model["task_s"] is None and model["block_bytes"] is None  # never read: null, not 0
    (s,) = [x for x in doc["suggestions"] if x["rule"] == "stragglers"]
    assert s["figures"]["nodes"] == ["n1"] and "node 10.0.0.1" in s["evidence"]


def test_markdown_and_html_tables(tmp_path):
    report = _report()
    md = render_markdown(report, tmp_path / "files")
    assert "## Percentiles" in md and "bucket" in md
    section = md.split("## Percentiles", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("| ReadRange"))
    assert "200 ms / 400 ms / 900 ms | 40 | 8.0M / 9.0M / 60.0M | 1.0k / 1.1k / 9.0k" in row
    html = render_html(report)
    assert '<section id="percentiles">' in html and "200 ms / 400 ms / 900 ms" in html


def test_a_recording_without_histograms_has_no_percentiles_section(tmp_path):
    report = build_report(load_history(DATA / "cpu_pipeline.raytop"))
    assert all(o["task_s"] is None for o in report.doc["operators"])
    assert "## Percentiles" not in render_markdown(report, tmp_path / "files")
    assert '<section id="percentiles">' not in render_html(report)
