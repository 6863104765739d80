"""A report of a long recording reads an even selection of its snapshots plus those around each
dataset event, and says how many the recording holds."""

from __future__ import annotations

import json

import jsonschema

from raytop.model import DatasetStats, Event, NodeStats, OperatorStats, Snapshot
from raytop.recording import RecordingWriter
from raytop.report import history as history_mod
from raytop.report import write_report
from raytop.report.history import load_history
from tests.report.test_consumer_section import load_schema

T0 = 1_760_000_000.0
SHORT = (100.5, 103.5)  # a dataset shorter than the gap between two selected snapshots


def snap(i: int) -> Snapshot:
    t = T0 + i
    datasets = ()
    if SHORT[0] <= i <= SHORT[1] + 1:
        state = "RUNNING" if i <= SHORT[1] else "FINISHED"
        datasets = (DatasetStats(dataset_id="short", state=state, rows_out=10 * i,
                                 operators=(OperatorStats(name="Map", rows_out=10 * i),),
                                 start_time=T0 + SHORT[0]),)
    return Snapshot(t=t, nodes=(NodeStats(node_id="n0", cpu_percent=float(i % 100)),),
                    datasets=datasets, sources={"cluster": "ok"})


def write(path, n: int) -> None:
    with RecordingWriter(path, meta={"interval": 1.0}) as w:
        for i in range(n):
            w.snapshot(snap(i))
        w.event(Event(t=T0 + 101, kind="dataset_started", dataset_id="short"))
        w.event(Event(t=T0 + 104.2, kind="dataset_finished", dataset_id="short"))


def test_a_long_recording_is_read_as_a_selection_that_keeps_short_datasets(tmp_path, monkeypatch):
    path = tmp_path / "long.raytop"
    write(path, 400)
    monkeypatch.setattr(history_mod, "MAX_SNAPSHOTS", 50)
    h = load_history(path)
    times = [s.t - T0 for s in h.snapshots]
    assert h.recorded == 400 and 50 <= len(h.snapshots) <= 54
    assert times[0] == 0 and times[-1] == 399 and times == sorted(times)
    assert {101, 102, 104, 105} <= set(times)  # around both events
    out = write_report(path, tmp_path / "r.json", "json")
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, load_schema())
    assert doc["summary"]["snapshots"] == len(h.snapshots)
    assert doc["summary"]["snapshots_recorded"] == 400
    assert [d["dataset_id"] for d in doc["datasets"]] == ["short"]
    md = write_report(path, tmp_path / "r.md", "md").read_text()
    assert f"({len(h.snapshots)} of 400 snapshots" in md


def test_a_short_recording_is_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "short.raytop"
    write(path, 30)
    h = load_history(path)
    assert h.recorded is None and len(h.snapshots) == 30
    doc = json.loads(write_report(path, tmp_path / "r.json", "json").read_text())
    assert "snapshots_recorded" not in doc["summary"]


def test_a_very_long_recording_is_read_at_its_keyframes(tmp_path, monkeypatch):
    from raytop.recording import writer as rec_writer

    monkeypatch.setattr(rec_writer, "_KEYFRAME_ROWS", 9)  # a keyframe every 10 rows
    path = tmp_path / "long.raytop"
    write(path, 400)
    monkeypatch.setattr(history_mod, "MAX_SNAPSHOTS", 16)  # 400 > 10 x 16: keyframes only
    h = load_history(path)
    times = {int(s.t - T0) for s in h.snapshots}
    keys = set(range(0, 400, 10))
    assert h.recorded == 400 and times - keys == {101, 102, 104, 105, 399}
    assert len(times & keys) == 16
