"""Recordings from elsewhere are untrusted input: bounded memory, no hang, one-line errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
import zstandard

from raytop.model import Snapshot
from raytop.recording import RecordingError, RecordingReader, RecordingWriter
from raytop.recording.checks import MAX_DECODED_BYTES

T0 = 1_760_000_000.0


def small_recording(path, n=3) -> None:
    with RecordingWriter(path, meta={"command": ["raytop"], "interval": 1.0}) as w:
        for i in range(n):
            w.snapshot(Snapshot(t=T0 + i, sources={"probe": "ok"}))


def set_snapshot_data(path, blob, *, dict_id=None) -> None:
    con = sqlite3.connect(path)
    con.execute("UPDATE snapshots SET data = ?, dict_id = ?", (blob, dict_id))
    con.commit()
    con.close()


def huge_snapshot_json() -> bytes:
    """A well-formed snapshot just over the cap: only the cap can stop it."""
    return (b'{"t":1760000000.0,"sources":{"pad":"' + b"a" * MAX_DECODED_BYTES + b'"}}')


def raytop(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "raytop", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_exit_2(done, *words) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raytop: "), done.stderr
    for word in words:
        assert word in lines[0]


def test_decompression_bomb_is_refused_without_inflating_it(tmp_path):
    path = tmp_path / "bomb.raytop"
    small_recording(path)
    bomb = zstandard.ZstdCompressor(level=19).compress(huge_snapshot_json())
    assert len(bomb) < 64 * 1024
    set_snapshot_data(path, bomb)
    with pytest.raises(RecordingError, match="no readable snapshot"):
        RecordingReader(path)


def test_bomb_without_a_declared_size_is_refused_too(tmp_path):
    path = tmp_path / "bomb.raytop"
    small_recording(path)
    cctx = zstandard.ZstdCompressor(level=19, write_content_size=False)
    set_snapshot_data(path, cctx.compress(huge_snapshot_json()))
    with pytest.raises(RecordingError, match="no readable snapshot"):
        RecordingReader(path)


def test_deeply_nested_json_is_an_unreadable_snapshot(tmp_path):
    path = tmp_path / "deep.raytop"
    small_recording(path)
    set_snapshot_data(path, zstandard.ZstdCompressor().compress(b"[" * 200_000))
    done = raytop("report", path, "-o", tmp_path / "deep.md")
    assert_one_line_exit_2(done, "no readable snapshot")


def test_deeply_nested_meta_does_not_escape(tmp_path):
    path = tmp_path / "meta.raytop"
    small_recording(path)
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = ? WHERE key = 'command'", ("[" * 200_000,))
    con.execute("UPDATE snapshots SET plan_ids = ?", ("[" * 200_000,))
    con.commit()
    con.close()
    with pytest.raises(RecordingError, match="no readable snapshot"):
        RecordingReader(path)


def test_a_view_in_place_of_a_table_is_refused(tmp_path):
    path = tmp_path / "view.raytop"
    small_recording(path)
    con = sqlite3.connect(path)
    con.execute("DROP TABLE events")
    con.execute("CREATE VIEW events AS WITH RECURSIVE r(id, t_ns, kind, dataset_id, message, data)"
                " AS (SELECT 1, 1, 'x', NULL, '', NULL UNION ALL SELECT id + 1, t_ns, kind,"
                " dataset_id, message, data FROM r) SELECT * FROM r")
    con.commit()
    con.close()
    done = raytop("report", path, "-o", tmp_path / "view.md", timeout=60)
    assert_one_line_exit_2(done, "events", "not a raytop recording")


@pytest.mark.parametrize("sidecar", ["", "-wal", "-journal"])
def test_a_fifo_is_refused(tmp_path, sidecar):
    path = tmp_path / "r.raytop"
    if sidecar:
        small_recording(path)
    os.mkfifo(f"{path}{sidecar}")
    done = raytop("report", path, "-o", tmp_path / "r.md", timeout=60)
    assert_one_line_exit_2(done, "not a regular file")


def test_a_device_is_refused(tmp_path):
    link = tmp_path / "zero.raytop"
    link.symlink_to("/dev/zero")
    with pytest.raises(RecordingError, match="not a regular file"):
        RecordingReader(link)
