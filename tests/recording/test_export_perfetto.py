"""`raytop export --format perfetto`: a trace that ui.perfetto.dev loads (the JSON trace event
format, checked against its schema) and that says what the recording says."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests" / "data" / "trace_event.schema.json").read_text())


def _export(rec: Path, out: Path) -> dict:
    res = subprocess.run([sys.executable, "-m", "raytop", "export", str(rec), "--format",
                          "perfetto", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("rec", ["tests/data/cpu_pipeline.raytop", "examples/gpu_starved.raytop"])
def test_trace_loads_and_tracks_are_well_formed(rec, tmp_path):
    doc = _export(ROOT / rec, tmp_path / "t.json")
    jsonschema.validate(doc, SCHEMA)
    events = doc["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    slices = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            assert (e["pid"], e["tid"]) in names  # every slice is on a named track
            slices[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    assert slices, "no operator ever ran?"
    for spans in slices.values():  # one kind of slice per track: they never overlap
        spans.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    assert any(e["ph"] == "C" and e["name"] == "operator" for e in events)


def test_trace_carries_gpu_backpressure_and_events(tmp_path):
    doc = _export(ROOT / "examples" / "gpu_starved.raytop", tmp_path / "t.json")
    events = doc["traceEvents"]
    gpu = [e for e in events if e["ph"] == "C" and e["name"].startswith("GPU 0")]
    assert gpu and all("util %" in e["args"] for e in gpu)
    backpressure = [e for e in events if e["ph"] == "X" and e["name"].startswith("tasks:")]
    assert backpressure, "the starved run is backpressured by its concurrency cap"
    instants = {e["name"] for e in events if e["ph"] == "i"}
    assert "dataset_finished" in instants or "job_exit" in instants
    assert doc["otherData"]["generator"] == "raytop"


def test_bad_format_is_one_line():
    res = subprocess.run([sys.executable, "-m", "raytop", "export", "x.raytop", "--format", "csv"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "csv" in res.stderr and "Traceback" not in res.stderr
