"""A failed write loses only its own snapshot; a recording with unreadable rows still opens."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from raytop.model import DatasetStats, LogicalOp, Plan, Snapshot
from raytop.recording import RecordingError, RecordingReader, RecordingWriter

T0 = 1_760_000_000.0


class FailOnce:
    """Stands in for the writer's sqlite3 connection; the first statement containing ``needle``
    fails as a full disk would."""

    def __init__(self, conn: sqlite3.Connection, needle: str):
        self._conn, self._needle, self.failed = conn, needle, False

    def execute(self, sql, *args):
        if not self.failed and self._needle in sql:
            self.failed = True
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def plan(tag: str) -> Plan:
    return Plan(logical=(LogicalOp(id=f"0:{tag}", name=tag, op_class="MapBatches", is_map=True),))


def snap(i: int, tag: str, n_datasets: int = 1) -> Snapshot:
    datasets = tuple(DatasetStats(dataset_id=f"ds_{d}", state="RUNNING", rows_out=i,
                                  plan=plan(tag)) for d in range(n_datasets))
    return Snapshot(t=T0 + i, datasets=datasets, sources={"probe": "ok"})


def test_a_failed_snapshot_loses_only_itself(tmp_path):
    path = tmp_path / "r.raytop"
    w = RecordingWriter(path, meta={"interval": 1.0})
    for i in range(3):
        w.snapshot(snap(i, "A"))
    real = w._conn
    w._conn = FailOnce(real, "INSERT INTO snapshots")
    # a new plan and a snapshot large enough for a new compression dictionary, then a full disk
    with pytest.raises(RecordingError, match="disk is full"):
        w.snapshot(snap(3, "B", n_datasets=40))
    w._conn = real
    for i in range(4, 8):
        w.snapshot(snap(i, "B", n_datasets=40))
    w.close()
    with RecordingReader(path) as r:
        assert r.skipped == 0
        got = list(r.iter_snapshots())
    assert [s.t - T0 for s in got] == [0, 1, 2, 4, 5, 6, 7]
    assert got[-1].datasets[39].plan == plan("B") and got[0].datasets[0].plan == plan("A")


def test_writer_state_is_restored_after_a_failed_commit(tmp_path):
    path = tmp_path / "r.raytop"
    w = RecordingWriter(path, meta={})
    w.snapshot(snap(0, "A"))
    real = w._conn
    w._conn = FailOnce(real, "COMMIT")
    with pytest.raises(RecordingError):
        w.snapshot(snap(1, "B", n_datasets=40))
    w._conn = real
    w.snapshot(snap(2, "B", n_datasets=40))
    w.close()
    with RecordingReader(path) as r:
        assert len(r) == 2 and r.skipped == 0
        assert r.snapshot(1).datasets[0].plan == plan("B")


def recording_with_dangling_rows(path, n=7, lost=(2, 3, 4)) -> None:
    """``n`` snapshots; those at ``lost`` point at a dictionary and a plan that are gone
    (what a writer that did not roll its state back left behind)."""
    with RecordingWriter(path, meta={"interval": 1.0}) as w:
        for i in range(n):
            w.snapshot(snap(i, "A"))
    con = sqlite3.connect(path)
    ids = [row[0] for row in con.execute("SELECT id FROM snapshots ORDER BY id")]
    for i in lost:
        con.execute("UPDATE snapshots SET dict_id = 99 WHERE id = ?", (ids[i],))
    if lost:
        con.execute("UPDATE snapshots SET plan_ids = '[77]' WHERE id = ?", (ids[lost[-1]],))
    con.commit()
    con.close()


def test_reader_skips_snapshots_with_dangling_references(tmp_path):
    path = tmp_path / "r.raytop"
    recording_with_dangling_rows(path)
    with RecordingReader(path) as r:
        assert r.skipped == 3 and len(r) == 4
        assert [s.t - T0 for s in r.iter_snapshots()] == [0, 1, 5, 6]


def test_reader_skips_a_corrupt_row_found_while_reading(tmp_path):
    path = tmp_path / "r.raytop"
    recording_with_dangling_rows(path, lost=())
    con = sqlite3.connect(path)
    con.execute("UPDATE snapshots SET data = ? WHERE id = (SELECT min(id) + 3 FROM snapshots)",
                (b"\x28\xb5\x2f\xfd garbage",))
    con.commit()
    con.close()
    with RecordingReader(path) as r:
        assert [s.t - T0 for s in r.iter_snapshots()] == [0, 1, 2, 4, 5, 6]
        assert r.skipped == 1
        assert r.snapshot(3).t == T0 + 2  # random access: the last readable one before it
        assert r.skipped == 1  # counted once


def test_no_readable_snapshot_is_an_error(tmp_path):
    path = tmp_path / "r.raytop"
    recording_with_dangling_rows(path, n=3, lost=(0, 1, 2))
    con = sqlite3.connect(path)
    con.execute("UPDATE snapshots SET dict_id = NULL, data = x'00'")
    con.commit()
    con.close()
    with pytest.raises(RecordingError, match="no readable snapshot"):
        RecordingReader(path)


@pytest.mark.parametrize("command", [("report", "-o", "{d}/r.md"), ("export",)])
def test_cli_reports_the_skipped_snapshots_in_one_line(tmp_path, command):
    path = tmp_path / "r.raytop"
    recording_with_dangling_rows(path)
    args = [a.format(d=tmp_path) for a in command]
    done = subprocess.run([sys.executable, "-m", "raytop", args[0], str(path), *args[1:]],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "unreadable" in line]
    assert notes == [f"raytop: {path}: 3 of 7 snapshots are unreadable and were skipped"]
    if args[0] == "export":
        assert len(done.stdout.splitlines()) == 4


def test_replay_reports_the_skipped_snapshots_before_the_screen_opens(tmp_path, monkeypatch,
                                                                     capsys):
    import raytop.tui
    from raytop import cli

    path = tmp_path / "r.raytop"
    recording_with_dangling_rows(path)
    monkeypatch.setattr(raytop.tui, "run_replay", lambda p, play=False: 0)  # no screen in a test
    with pytest.raises(SystemExit) as done:
        cli.main(["replay", str(path)])
    assert done.value.code == 0
    assert capsys.readouterr().err.splitlines() == [
        f"raytop: {path}: 3 of 7 snapshots are unreadable and were skipped"]
