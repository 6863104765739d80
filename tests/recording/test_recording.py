"""The `.raytop` recording: round trip, seek, live reading, kill -9, bad files, redaction, export."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import zstandard

from raytop.model import (
    ActorCounts,
    DatasetStats,
    Event,
    GpuProcess,
    GpuStats,
    LogicalOp,
    NodeStats,
    ObjectStore,
    OperatorStats,
    PhysicalOp,
    Plan,
    Resources,
    Snapshot,
    to_dict,
)
from raytop.recording import SCHEMA_VERSION, RecordingError, RecordingReader, RecordingWriter, export_jsonl
from raytop.recording import schema as rec_schema

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_760_000_000.123456
META = {"command": ["raytop", "run", "demo.py"], "raytop_version": "0.1.0", "ray_version": "2.60.0",
        "host": "box", "started_utc": "2025-10-09T08:53:20Z", "interval": 1.0}


def make_plan(tag: str) -> Plan:
    return Plan(
        logical=(LogicalOp(id="0:ReadRange", name="ReadRange", op_class="Read"),
                 LogicalOp(id="1:MapBatches(pre)", name="MapBatches(pre)", op_class="MapBatches",
                           inputs=("0:ReadRange",), compute="task", batch_size=32, is_map=True,
                           ray_remote_args={"num_cpus": 1}, physical="ReadRange->MapBatches(pre)"),
                 LogicalOp(id=f"2:MapBatches({tag})", name=f"MapBatches({tag})",
                           op_class="MapBatches", inputs=("1:MapBatches(pre)",), compute="actor",
                           min_size=1, max_size=2, ray_remote_args={"num_gpus": 0.5},
                           is_map=True, physical=f"MapBatches({tag})")),
        physical=(PhysicalOp(name="ReadRange->MapBatches(pre)", physical_class="TaskPoolMapOperator",
                             logical=("0:ReadRange", "1:MapBatches(pre)")),
                  PhysicalOp(name=f"MapBatches({tag})", physical_class="ActorPoolMapOperator",
                             logical=(f"2:MapBatches({tag})",),
                             inputs=("ReadRange->MapBatches(pre)",))),
        ray_version="2.60.0")


def make_snapshot(i: int, n_datasets: int = 1, plan_tag: str = "Model") -> Snapshot:
    ops = (
        OperatorStats(name="ReadRange->MapBatches(pre)", physical_class="TaskPoolMapOperator",
                      logical=("ReadRange", "MapBatches(pre)"), compute="task",
                      input_queue_blocks=i % 7, input_queue_bytes=(i % 7) * 1000, tasks_running=2,
                      rows_out=100 * i, bytes_out=1000 * i, backpressure=("tasks:ResourceBudget",),
                      usage=Resources(cpu=2.0, gpu=0.0, object_store_bytes=5000 + i, memory_bytes=None),
                      avg_task_s=0.1 + i / 1000),
        OperatorStats(name=f"MapBatches({plan_tag})", physical_class="ActorPoolMapOperator",
                      logical=(f"MapBatches({plan_tag})",), compute="actor",
                      actors=ActorCounts(running=1, pending=i % 2, idle=0, restarting=0),
                      rows_out=90 * i, heap_bytes=10_000_000 + i * 4096, gpu_mem_bytes=None,
                      budget=Resources(cpu=1.0, gpu=1.0, object_store_bytes=None, memory_bytes=None)),
    )
    datasets = tuple(
        DatasetStats(dataset_id=f"ds_{d}", state="RUNNING" if d == n_datasets - 1 else "FINISHED",
                     rows_out=90 * i, operators=ops, source="probe", plan=make_plan(plan_tag))
        for d in range(n_datasets))
    node = NodeStats(node_id="n1", ip="10.0.0.1", is_head=True, cpu_percent=12.5 + i,
                     mem_used_bytes=4 << 30, mem_total_bytes=16 << 30,
                     object_store=ObjectStore(used_bytes=i * 1024, capacity_bytes=300 << 20,
                                              spilled_bytes=None),
                     gpus=(GpuStats(index=0, util_percent=None, processes=(
                         GpuProcess(pid=42, gpu_mem_bytes=1 << 30, operator="MapBatches(Model)"),)),),
                     heap_by_operator={"MapBatches(Model)": 10_000_000 + i})
    return Snapshot(t=T0 + i * 1.0, nodes=(node,), datasets=datasets,
                    sources={"probe": "ok", "gpu": "absent: no NVIDIA driver"},
                    address="127.0.0.1:6379", ray_version="2.60.0")


def write_recording(path: Path, snaps, events=(), exit_code=0) -> None:
    w = RecordingWriter(path, meta=META)
    for s in snaps:
        w.snapshot(s)
    for ev in events:
        w.event(ev)
    w.close(exit_code=exit_code)


# ---- round trip and seek --------------------------------------------------------------------

def test_round_trip_snapshots_plans_events_meta(tmp_path):
    # shapes change (empty -> 1 dataset -> 3 datasets) so several compression dictionaries are made
    snaps = [Snapshot(t=T0 - 1.0)] + [make_snapshot(i) for i in range(20)] + \
        [make_snapshot(i, n_datasets=3, plan_tag="Embed") for i in range(20, 40)]
    events = [Event(t=T0 + 0.5, kind="dataset_started", message="ds_0 started", dataset_id="ds_0"),
              Event(t=T0 + 39.5, kind="job_exit", message="exit 0", data={"exit_code": 0})]
    path = tmp_path / "r.raytop"
    write_recording(path, snaps, events, exit_code=0)
    assert sorted(os.listdir(tmp_path)) == ["r.raytop"]  # back to a single file

    with RecordingReader(path) as r:
        assert len(r) == len(snaps)
        for i, s in enumerate(snaps):
            assert r.snapshot(i) == s
            assert to_dict(r.snapshot(i)) == to_dict(s)
        assert r.snapshot(-1) == snaps[-1]
        assert r.events() == events
        for key, value in META.items():
            assert r.meta[key] == value
        assert r.meta["schema_version"] == SCHEMA_VERSION
        assert r.meta["exit_code"] == 0 and r.meta["ended_utc"].endswith("Z")
        assert list(r.iter_snapshots()) == snaps
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM plans").fetchone()[0] == 2  # one row per distinct plan
    assert con.execute("SELECT count(*) FROM dicts").fetchone()[0] >= 2
    con.close()


def test_seek_by_time(tmp_path):
    # irregular sub-microsecond times: seeking to a time read back from times() must stay exact
    snaps = [dataclasses.replace(make_snapshot(i), t=T0 + i + i * 0.1234567 + i * 3.3e-7)
             for i in range(10)]
    path = tmp_path / "r.raytop"
    write_recording(path, snaps)
    with RecordingReader(path) as r:
        times = r.times()
        assert times == sorted(times) and len(times) == 10
        assert times == pytest.approx([s.t for s in snaps], abs=1e-6)
        assert r.index_at(T0 - 100) == 0  # before the start
        for i, s in enumerate(snaps):
            assert r.index_at(s.t) == i  # exactly at
            assert r.index_at(times[i]) == i
            assert r.index_at(s.t + 0.5) == i  # between
        assert r.index_at(T0 + 1e6) == 9  # after the end
        assert r.snapshot_at(snaps[3].t + 0.7).t == snaps[3].t
        assert [s.t for s in r.iter_snapshots(snaps[2].t, snaps[5].t)] == [s.t for s in snaps[2:6]]
        assert [s.t for s in r.iter_snapshots(start=snaps[7].t + 0.5)] == [s.t for s in snaps[8:]]
        with pytest.raises(IndexError):
            r.snapshot(10)


def test_unknown_keys_in_snapshot_json_are_ignored(tmp_path):
    path = tmp_path / "r.raytop"
    write_recording(path, [make_snapshot(0)])
    data = to_dict(make_snapshot(1))
    data["added_in_a_later_version"] = {"x": 1}
    data["datasets"][0]["operators"][0]["new_gauge"] = 5
    con = sqlite3.connect(path)
    con.execute("INSERT INTO snapshots (t_ns, dict_id, plan_ids, data) VALUES (?, NULL, NULL, ?)",
                (rec_schema.to_ns(data["t"]),
                 zstandard.ZstdCompressor().compress(json.dumps(data).encode())))
    con.commit()
    con.close()
    with RecordingReader(path) as r:
        snap = r.snapshot(1)
    assert snap.datasets[0].operators[0].rows_out == 100


def test_threads_share_one_reader(tmp_path):
    snaps = [make_snapshot(i) for i in range(60)]
    path = tmp_path / "r.raytop"
    write_recording(path, snaps)
    r = RecordingReader(path)
    errors = []

    def worker(offset):
        try:
            for k in range(200):
                i = (k * 7 + offset) % 60
                assert r.snapshot(i).t == snaps[i].t
        except Exception as e:  # noqa: BLE001 - any failure in the thread is surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(o,)) for o in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r.close()
    assert errors == []
    con = sqlite3.connect(path)  # one pipeline shape: one compression dictionary
    assert con.execute("SELECT count(*) FROM dicts").fetchone()[0] == 1
    con.close()


# ---- while the writer runs, and kill -9 -----------------------------------------------------

def test_read_while_writer_is_open(tmp_path):
    path = tmp_path / "live.raytop"
    w = RecordingWriter(path, meta=META)
    r = RecordingReader(path)  # opened before the first snapshot
    assert len(r) == 0 and r.meta["command"] == META["command"]
    for i in range(3):
        w.snapshot(make_snapshot(i))
    w.event(Event(t=T0 + 1, kind="source_error", message="gpu: lost"))
    assert len(r) == 0
    r.refresh()
    assert len(r) == 3 and r.snapshot(2) == make_snapshot(2)
    assert [e.kind for e in r.events()] == ["source_error"]
    assert "exit_code" not in r.meta
    w.snapshot(make_snapshot(3))
    w.close(exit_code=1)
    w.snapshot(make_snapshot(4))  # after close: ignored, no error
    r.refresh()
    assert len(r) == 4 and r.meta["exit_code"] == 1
    r.close()
    assert sorted(os.listdir(tmp_path)) == ["live.raytop"]


def test_reader_refreshes_while_a_writer_thread_commits(tmp_path):
    path = tmp_path / "busy.raytop"
    w = RecordingWriter(path, meta=dict(META, output=tmp_path / "out.txt"))  # Path: stored as str
    snaps = [make_snapshot(i, n_datasets=2) for i in range(150)]

    def write():
        for s in snaps:
            w.snapshot(s)
        w.close(exit_code=0)

    writer = threading.Thread(target=write)
    r = RecordingReader(path)
    writer.start()
    seen = 0
    while writer.is_alive() or seen < len(snaps):
        r.refresh()
        assert len(r) >= seen  # never goes backwards
        seen = len(r)
        if seen:
            assert r.snapshot(seen - 1) == snaps[seen - 1]
    writer.join()
    assert r.meta["exit_code"] == 0 and r.meta["output"] == str(tmp_path / "out.txt")
    r.close()


_KILL_WRITER = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[3])
from test_recording import make_snapshot, META
from raytop.recording import RecordingWriter
w = RecordingWriter(sys.argv[1], meta=META)
i = 0
while True:
    w.snapshot(make_snapshot(i, n_datasets=2))
    i += 1
    print(i, flush=True)   # reported only after the commit returned
    time.sleep(0.05)
"""


def test_kill_9_loses_at_most_the_last_snapshot(tmp_path, python_exe):
    path = tmp_path / "killed.raytop"
    proc = subprocess.Popen([python_exe, "-c", _KILL_WRITER, str(path), str(ROOT),
                             str(ROOT / "tests" / "recording")], stdout=subprocess.PIPE, text=True)
    try:
        committed = 0
        deadline = time.monotonic() + 120
        while committed < 10 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "writer subprocess died"
            committed = int(line)
        live = RecordingReader(path)  # a reader that opens while the writer still runs
        assert len(live) >= 10
        live.close()
        while committed < 25 and time.monotonic() < deadline:
            committed = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        # lines printed after the last one we read were also committed
        committed = max([committed] + [int(x) for x in proc.stdout.read().split()])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with RecordingReader(path) as r:
        assert committed <= len(r) <= committed + 1
        for i in range(len(r)):
            assert r.snapshot(i) == make_snapshot(i, n_datasets=2)
        assert "exit_code" not in r.meta
    assert sorted(os.listdir(tmp_path)) == ["killed.raytop"]  # the reader folded the WAL in


# ---- bad input -------------------------------------------------------------------------------

def _open_error(path) -> str:
    with pytest.raises(RecordingError) as info:
        RecordingReader(path)
    msg = str(info.value)
    assert msg and "\n" not in msg
    return msg


def test_reader_errors_are_one_line(tmp_path):
    assert "not found" in _open_error(tmp_path / "missing.raytop")
    assert "directory" in _open_error(tmp_path)
    (tmp_path / "empty.raytop").write_bytes(b"")
    assert "empty" in _open_error(tmp_path / "empty.raytop")
    (tmp_path / "garbage.raytop").write_bytes(os.urandom(5000))
    assert "not a raytop recording" in _open_error(tmp_path / "garbage.raytop")
    (tmp_path / "text.raytop").write_text("hello\n")
    assert "not a raytop recording" in _open_error(tmp_path / "text.raytop")
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    assert "not a raytop recording" in _open_error(other)


def test_truncated_and_corrupt_files(tmp_path):
    path = tmp_path / "full.raytop"
    write_recording(path, [make_snapshot(i, n_datasets=3) for i in range(200)])
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 100, 4096 + 17):
        bad = tmp_path / f"cut{cut}.raytop"
        bad.write_bytes(data[:cut])
        assert "truncated or corrupt" in _open_error(bad)
    corrupt = tmp_path / "corrupt.raytop"
    corrupt.write_bytes(data)
    con = sqlite3.connect(corrupt)
    con.execute("UPDATE snapshots SET data = ? WHERE id = (SELECT max(id) FROM snapshots)",
                (b"\x28\xb5\x2f\xfd garbage",))
    con.commit()
    con.close()
    with RecordingReader(corrupt) as r:  # one bad row costs that snapshot, not the file
        assert r.skipped == 1 and len(list(r.iter_snapshots())) == 199


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "new.raytop"
    write_recording(path, [make_snapshot(0)])
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    assert _open_error(path) == (
        f"recording schema 7 is newer than this raytop supports ({SCHEMA_VERSION}); upgrade raytop")


def test_older_schema_goes_through_the_migration_hook(tmp_path, monkeypatch):
    path = tmp_path / "old.raytop"
    write_recording(path, [make_snapshot(0), make_snapshot(1)])
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    assert "cannot be migrated" in _open_error(path)

    def v0_to_v1(conn):
        conn.execute("INSERT INTO meta VALUES ('migrated_from', '0')")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")

    monkeypatch.setitem(rec_schema.MIGRATIONS, 0, v0_to_v1)
    with RecordingReader(path) as r:
        assert r.meta["migrated_from"] == 0 and r.meta["schema_version"] == 1
        assert r.snapshot(1) == make_snapshot(1)
    con = sqlite3.connect(path)  # the user's file is left as it was
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "0"
    con.close()


def test_writer_refuses_to_overwrite_unless_forced(tmp_path):
    path = tmp_path / "r.raytop"
    write_recording(path, [make_snapshot(0), make_snapshot(1)])
    with pytest.raises(RecordingError, match="exists; pass --force"):
        RecordingWriter(path, meta=META)
    with RecordingReader(path) as r:
        assert len(r) == 2  # untouched
    write_recording_forced = RecordingWriter(path, meta=META, force=True)
    write_recording_forced.snapshot(make_snapshot(5))
    write_recording_forced.close()
    with RecordingReader(path) as r:
        assert len(r) == 1 and r.snapshot(0) == make_snapshot(5)
    with pytest.raises(RecordingError, match="directory"):
        RecordingWriter(tmp_path, meta=META, force=True)
    with pytest.raises(RecordingError, match="does not exist"):
        RecordingWriter(tmp_path / "no" / "such" / "r.raytop", meta=META)


# ---- secrets ---------------------------------------------------------------------------------

def test_secrets_never_reach_the_file(tmp_path, monkeypatch):
    ray_token = "raytok-8c1f0a9e5d7b4c2a"
    monkeypatch.setenv("RAY_AUTH_TOKEN", ray_token)
    secrets = ["s3cr3t-cli-token", "hunter2-password", "pgpass-xyz", "aws-key-AKIA123", ray_token]
    meta = dict(META, command=["python", "job.py", "--token", secrets[0],
                               f"--password={secrets[1]}",
                               f"--db=postgres://alice:{secrets[2]}@db:5432/x",
                               f"--note=uses {ray_token}"],
                env={"AWS_SECRET_ACCESS_KEY": secrets[3], "PATH": "/usr/bin"})
    path = tmp_path / "s.raytop"
    w = RecordingWriter(path, meta=meta)
    w.snapshot(make_snapshot(0))
    w.event(Event(t=T0, kind="source_error", message=f"401 with token {ray_token}",
                  data={"detail": f"Bearer {ray_token}"}))
    w.close()
    raw = path.read_bytes()
    for secret in secrets:
        assert secret.encode() not in raw
    with RecordingReader(path) as r:
        cmd = r.meta["command"]
        assert cmd[:3] == ["python", "job.py", "--token"] and cmd[3] == "***"
        assert cmd[4] == "--password=***"
        assert cmd[5] == "--db=postgres://alice:***@db:5432/x"
        assert r.meta["env"] == {"AWS_SECRET_ACCESS_KEY": "***", "PATH": "/usr/bin"}
        assert r.events()[0].message == "401 with token ***"


# ---- export ----------------------------------------------------------------------------------

def test_export_jsonl_has_the_design_keys(tmp_path):
    snaps = [make_snapshot(i) for i in range(5)]
    snaps.append(Snapshot(t=T0 + 10, nodes=(NodeStats(node_id="n1", cpu_percent=float("nan")),)))
    path = tmp_path / "r.raytop"
    write_recording(path, snaps)
    out = tmp_path / "r.jsonl"
    with RecordingReader(path) as r, open(out, "w") as f:
        assert export_jsonl(r, f) == 6
    lines = out.read_text().splitlines()
    assert len(lines) == 6
    for line in lines:
        obj = json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
        assert {"schema", "t", "nodes", "datasets", "sources"} <= obj.keys()
    first = json.loads(lines[0])
    op = first["datasets"][0]["operators"][0]
    for key in ("name", "physical_class", "logical", "compute", "input_queue_blocks",
                "input_queue_bytes", "output_queue_blocks", "output_queue_bytes", "tasks_running",
                "actors", "rows_out", "bytes_out", "backpressure", "usage", "budget", "heap_bytes",
                "gpu_mem_bytes"):
        assert key in op
    assert first["datasets"][0]["plan"]["physical"][0]["name"] == "ReadRange->MapBatches(pre)"
    assert first["nodes"][0]["object_store"]["capacity_bytes"] == 300 << 20
    assert json.loads(lines[-1])["nodes"][0]["cpu_percent"] is None
