"""`raytop run --headless` end to end: a real script, its own local Ray, the probe, a recording."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from raytop.recording import RecordingReader

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "small_pipeline.py"
pytestmark = pytest.mark.ray


def raytop_run(tmp: Path, name: str, *script_args: str, interval: str = "0.3"):
    rec = tmp / f"{name}.raytop"
    res = subprocess.run([sys.executable, "-m", "raytop", "run", "--headless", "--interval", interval,
                          "--record", str(rec), str(SCRIPT), *script_args],
                         capture_output=True, text=True, cwd=tmp, timeout=240)
    return res, rec


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    res, rec = raytop_run(tmp, "good", "4000")
    reader = RecordingReader(rec)
    snaps = list(reader.iter_snapshots())
    events = reader.events()
    reader.close()
    return res, rec, snaps, events


def test_run_exits_0_and_records(good_run):
    res, rec, snaps, _ = good_run
    assert res.returncode == 0, res.stderr[-3000:]
    assert "rows=4000" in res.stdout
    assert f"recording saved to {rec}" in res.stderr
    assert len(snaps) >= 3


def test_probe_sees_the_pipeline_shape(good_run):
    _, _, snaps, _ = good_run
    datasets = {d.dataset_id: d for s in snaps for d in s.datasets}
    assert len(datasets) == 1
    final = snaps[-1].datasets[0]
    assert final.state == "FINISHED"
    assert final.source == "probe"
    names = [op.name for op in final.operators]
    fused = [op for op in final.operators if len(op.logical) >= 2]
    assert fused and fused[0].logical == ("ReadRange", "MapBatches(double)"), names
    actor = next(op for op in final.operators if op.name == "MapBatches(Scale)")
    assert actor.compute == "actor" and actor.actors is not None
    assert final.rows_out == 4000
    assert actor.rows_out == 4000
    # queues, tasks and rows were reported while it ran
    running = [d for s in snaps for d in s.datasets if d.state == "RUNNING"]
    assert running
    assert any(op.tasks_running is not None for d in running for op in d.operators)
    assert any((op.input_queue_blocks or 0) + (op.output_queue_blocks or 0) > 0
               for d in running for op in d.operators)
    assert final.plan is not None and len(final.plan.logical) >= 3


def test_cluster_and_heap_readings(good_run):
    _, _, snaps, _ = good_run
    assert any(n.object_store.capacity_bytes and n.object_store.capacity_bytes > 0
               for s in snaps for n in s.nodes)
    heaps = [op.heap_bytes for s in snaps for d in s.datasets for op in d.operators
             if op.name == "MapBatches(Scale)" and op.heap_bytes]
    assert heaps and max(heaps) > 20_000_000  # the actor holds a 20 MB array
    assert snaps[-1].address


def test_events_recorded(good_run):
    _, _, _, events = good_run
    kinds = [e.kind for e in events]
    assert "dataset_started" in kinds and "dataset_finished" in kinds
    exit_ev = [e for e in events if e.kind == "job_exit"]
    assert exit_ev and exit_ev[0].data["exit_code"] == 0


def test_export_jsonl_matches_schema(good_run, tmp_path):
    _, rec, snaps, _ = good_run
    res = subprocess.run([sys.executable, "-m", "raytop", "export", str(rec), "--format", "jsonl"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == len(snaps)
    for line in lines:
        d = json.loads(line)
        assert {"schema", "t", "nodes", "datasets", "sources"} <= set(d)
        for ds in d["datasets"]:
            for op in ds["operators"]:
                assert {"name", "physical_class", "logical", "compute", "input_queue_blocks",
                        "input_queue_bytes", "output_queue_blocks", "output_queue_bytes",
                        "tasks_running", "actors", "rows_out", "bytes_out", "backpressure",
                        "usage", "budget", "heap_bytes", "gpu_mem_bytes"} <= set(op)


def test_exit_code_passes_through(tmp_path):
    res, rec = raytop_run(tmp_path, "exit3", "400", "3")
    assert res.returncode == 3, res.stderr[-2000:]
    reader = RecordingReader(rec)
    exit_ev = [e for e in reader.events() if e.kind == "job_exit"]
    assert exit_ev[0].data["exit_code"] == 3
    assert reader.meta.get("exit_code") == 3


def test_failing_udf_is_recorded(tmp_path):
    res, rec = raytop_run(tmp_path, "fail", "400", "--fail")
    assert res.returncode == 1, res.stderr[-2000:]
    reader = RecordingReader(rec)
    failed = [e for e in reader.events() if e.kind == "dataset_failed"]
    assert failed and "planted failure" in failed[0].message
    last = list(reader.iter_snapshots())[-1]
    assert last.datasets and last.datasets[-1].state == "FAILED"
