"""The report's Consumer section: the driver's loop over each dataset it iterated."""

from __future__ import annotations

import json

import jsonschema

from raytop.recording import RecordingWriter
from raytop.report import write_report
from raytop.report.json_report import load_schema
from tests.analysis import scenarios as sc


def _recording(path, snaps):
    with RecordingWriter(path, meta={"command": ["python", "loop.py"], "interval": 1.0}) as w:
        for s in snaps:
            w.snapshot(s)
    return path


def test_report_has_the_consumer_and_names_consumer_bound(tmp_path):
    rec = _recording(tmp_path / "loop.raytop", sc.consumer_bound())
    doc = json.loads(write_report(rec, tmp_path / "loop.json", None).read_text())
    jsonschema.validate(doc, load_schema())
    (d,) = doc["datasets"]
    assert d["consumer"]["batches"] == 38 and d["bottleneck"] is None
    assert d["consumer_summary"].endswith("its own code is the slow part")
    assert doc["suggestions"][0]["rule"] == "consumer-bound"
    md = write_report(rec, tmp_path / "loop.md", None).read_text()
    section = md.split("## Consumer", 1)[1].split("##", 1)[0]
    assert "17.1 s \\(94 %\\)" in section and "its own code is the slow part" in section
    html = write_report(rec, tmp_path / "loop.html", None).read_text()
    assert 'id="consumer"' in html and "Waiting for the pipeline" in html


def test_no_consumer_section_without_a_loop(tmp_path):
    rec = _recording(tmp_path / "pool.raytop", sc.pool_undersized())
    md = write_report(rec, tmp_path / "pool.md", None).read_text()
    assert "## Consumer" not in md
    doc = json.loads(write_report(rec, tmp_path / "pool.json", None).read_text())
    assert doc["datasets"][0]["consumer"] is None
