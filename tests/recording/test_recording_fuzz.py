"""Fuzzing the recording reader: random, truncated, bit-flipped and hostile-row inputs each give
snapshots or a RecordingError (the one error the CLI turns into exit 2), never another exception
or a hang. Seeded, so a failure replays; about 10 s."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path

import pytest
import zstandard

from raytop.model import DatasetStats, Event, LogicalOp, OperatorStats, Plan, Snapshot
from raytop.recording import RecordingError, RecordingReader, RecordingWriter

SEED = 20241130
T0 = 1_760_000_000.0


def seed_recording(path: Path) -> bytes:
    plan = Plan(logical=(LogicalOp(id="0:Map", name="Map", op_class="MapBatches", is_map=True,
                                   ray_remote_args={"num_cpus": 1}),))
    with RecordingWriter(path, meta={"command": ["raytop", "run", "x.py"], "interval": 1.0}) as w:
        for i in range(20):
            op = OperatorStats(name="Map", rows_out=i * 10, tasks_running=i % 3)
            ds = DatasetStats(dataset_id="ds_0", state="RUNNING", rows_out=i * 10,
                              operators=(op,), plan=plan)
            w.snapshot(Snapshot(t=T0 + i, datasets=(ds,), sources={"probe": "ok"}))
        w.event(Event(t=T0, kind="job_started", message="x.py"))
    return path.read_bytes()


def exercise(path: Path) -> None:
    """Everything report, export and replay do with a reader."""
    try:
        with RecordingReader(path) as r:
            list(r.iter_snapshots())
            r.events()
            r.times()
            if len(r):
                r.snapshot(0)
                r.snapshot(-1)
                r.snapshot_at(T0 + 5)
            r.refresh()
    except RecordingError as e:
        assert str(e) and "\n" not in str(e)


def place(path: Path, data: bytes) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(data)


def random_bytes(rng: random.Random):
    for _ in range(120):
        head = b"SQLite format 3\x00" if rng.random() < 0.5 else b""
        yield "random", head + rng.randbytes(rng.randrange(0, 9000))


def truncations(rng: random.Random, good: bytes):
    for _ in range(80):
        yield "truncated", good[:rng.randrange(0, len(good))]


def bit_flips(rng: random.Random, good: bytes):
    for _ in range(250):
        data = bytearray(good)
        for _ in range(rng.randrange(1, 24)):
            data[rng.randrange(100, len(data))] ^= 1 << rng.randrange(8)
        yield "flipped", bytes(data)


def hostile_value(rng: random.Random):
    choices = [
        lambda: rng.randrange(-2**63, 2**63), lambda: rng.random() * 1e9, lambda: None,
        lambda: rng.randbytes(rng.randrange(0, 64)), lambda: "x" * rng.randrange(0, 64),
        lambda: "[" * rng.randrange(1, 100_000), lambda: json.dumps([[[1]]]),
        lambda: zstandard.ZstdCompressor().compress(rng.randbytes(rng.randrange(0, 256))),
        lambda: zstandard.ZstdCompressor().compress(b"{" * 50_000),
        lambda: zstandard.ZstdCompressor().compress(json.dumps({"t": "soon", "datasets": 7}).encode()),
        lambda: json.dumps([rng.randrange(-3, 5), None]),
    ]
    return rng.choice(choices)()


def hostile_rows(rng: random.Random, good: bytes, path: Path):
    columns = {"snapshots": ("t_ns", "dict_id", "plan_ids", "data"), "dicts": ("data",),
               "plans": ("data",), "meta": ("value",), "events": ("t_ns", "kind", "data")}
    for _ in range(120):
        place(path, good)
        con = sqlite3.connect(path)
        for _ in range(rng.randrange(1, 6)):
            table = rng.choice(sorted(columns))
            column = rng.choice(columns[table])
            rowids = [r[0] for r in con.execute(f"SELECT rowid FROM {table} ORDER BY rowid")]
            for rowid in rng.sample(rowids, min(3, len(rowids))):
                try:
                    con.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?",
                                (hostile_value(rng), rowid))
                except sqlite3.IntegrityError:  # NOT NULL / UNIQUE: that value cannot be there
                    pass
        con.commit()
        con.close()
        yield "hostile rows", path.read_bytes()


@pytest.mark.timeout(120)
def test_reader_survives_fuzzed_recordings(tmp_path):
    rng = random.Random(SEED)
    good = seed_recording(tmp_path / "good.raytop")
    path = tmp_path / "fuzz.raytop"
    cases = [*random_bytes(rng), *truncations(rng, good), *bit_flips(rng, good),
             *hostile_rows(rng, good, tmp_path / "scratch.raytop")]
    for n, (kind, data) in enumerate(cases):
        place(path, data)
        try:
            exercise(path)
        except Exception as e:  # noqa: BLE001 - any other exception is the finding
            keep = tmp_path / f"case{n}.raytop"
            keep.write_bytes(data)
            pytest.fail(f"case {n} ({kind}, kept as {keep}): {type(e).__name__}: {e}")
    assert os.path.exists(path)
