"""`raytop run --report` on a real pipeline with its own local Ray: the report of a real recording."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import jsonschema
import pytest

from raytop.report import write_report
from raytop.report.json_report import load_schema

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "small_pipeline.py"
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    rec, html = tmp / "run.raytop", tmp / "run.html"
    res = subprocess.run([sys.executable, "-m", "raytop", "run", "--headless", "--interval", "0.3",
                          "--record", str(rec), "--report", str(html), str(SCRIPT), "2000"],
                         capture_output=True, text=True, cwd=tmp, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp, rec, html


def test_run_writes_a_self_contained_html_report(real_run):
    _, _, html = real_run
    text = html.read_text(encoding="utf-8")
    shown = unescape(text)
    assert "MapBatches(Scale)" in shown and "ReadRange->MapBatches(double)" in shown
    assert text.count("<svg") >= 2  # throughput and queues come from the probe everywhere
    assert not re.search(r"(src|href)=\"(?!#)", text)
    assert '<section id="plan">' in text and "ActorPoolMapOperator" in text


def test_json_of_a_real_recording_validates(real_run):
    tmp, rec, _ = real_run
    doc = json.loads(write_report(rec, tmp / "run.json", None).read_text())
    jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)
    assert doc["summary"]["rows"] == 2000
    assert doc["summary"]["exit_code"] == 0
    ops = {o["name"]: o for o in doc["operators"]}
    assert ops["MapBatches(Scale)"]["rows_out"] == 2000
    assert ops["MapBatches(Scale)"]["rows_per_s"] > 0
    groups = next(iter(doc["plan"].values()))["groups"]
    assert ["ReadRange", "MapBatches(double)"] in [g["names"] for g in groups]
