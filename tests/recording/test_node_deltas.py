"""Schema 2: node tables stored as patches against the previous row, with keyframes.

Round trip through writer and reader with nodes that change, join, die and leave; seeking into the
middle of a patch chain; schema 1 files still read; damaged delta rows cost snapshots, not the file.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from pathlib import Path

import pytest

from raytop.model import GpuProcess, GpuStats, NodeStats, ObjectStore, Snapshot
from raytop.recording import RecordingError, RecordingReader, RecordingWriter
from raytop.recording import nodes as node_codec
from raytop.recording import writer as rec_writer

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_760_000_000.0


def node(rng: random.Random, node_id: str, step: int, gpus: int = 2) -> NodeStats:
    heap = {f"op{k}": rng.randint(1, 1 << 30) for k in range(rng.randint(0, 3))}
    return NodeStats(
        node_id=node_id, ip="10.0.0.1", is_head=node_id == "n0",
        cpu_percent=None if step % 7 == 3 else rng.randint(0, 1000) / 10,
        mem_used_bytes=rng.randint(1, 1 << 36), mem_total_bytes=1 << 36,
        object_store=ObjectStore(used_bytes=rng.randint(0, 9) * 4096, capacity_bytes=1 << 30,
                                 spilled_bytes=None if step < 5 else step),
        gpus=tuple(GpuStats(index=g, util_percent=float(rng.randint(0, 100)),
                            power_watts=rng.randint(60_000, 700_000) / 1000,
                            temp_c=45.0 + step % 3,
                            processes=tuple(GpuProcess(pid=100 + p, gpu_mem_bytes=rng.randint(0, 99))
                                            for p in range(rng.randint(0, 2))))
                   for g in range(gpus)),
        alive=not (node_id == "n2" and step >= 20), heap_bytes=sum(heap.values()) or None,
        heap_by_operator=heap, gpu_source="ok" if gpus else "absent: no NVIDIA driver")


def cluster(step: int) -> tuple[NodeStats, ...]:
    """n0..n3 at first; n2 dies at step 20 and leaves at 30; n4 joins at 25; n1 loses a GPU at
    40; the order of n3 and n1 swaps at 50."""
    rng = random.Random(step)
    ids = ["n0", "n1", "n2", "n3"] + (["n4"] if step >= 25 else [])
    if step >= 30:
        ids.remove("n2")
    if step >= 50:
        ids[ids.index("n1")], ids[ids.index("n3")] = "n3", "n1"
    return tuple(node(rng, i, step, gpus=1 if i == "n1" and step >= 40 else 2) for i in ids)


def snapshots(n: int) -> list[Snapshot]:
    return [Snapshot(t=T0 + i, nodes=cluster(i), sources={"cluster": "ok"}) for i in range(n)]


def write(path: Path, snaps) -> None:
    with RecordingWriter(path, meta={"interval": 1.0}) as w:
        for s in snaps:
            w.snapshot(s)


def kinds(path: Path) -> list[bool]:
    """Per row in order: True for a delta row."""
    con = sqlite3.connect(path)
    try:
        return [row[0] is not None for row in con.execute("SELECT base_id FROM snapshots ORDER BY id")]
    finally:
        con.close()


def test_nodes_round_trip_through_deltas_joins_deaths_and_leaves(tmp_path, monkeypatch):
    monkeypatch.setattr(rec_writer, "_KEYFRAME_ROWS", 25)
    path = tmp_path / "r.raytop"
    snaps = snapshots(70)
    write(path, snaps)
    rows = kinds(path)
    assert rows[0] is False and rows[26] is False and sum(rows) >= 60  # keyframes at 0, 26, 52
    with RecordingReader(path) as r:
        assert list(r.iter_snapshots()) == snaps
    for i in (47, 3, 69, 26, 30):  # a fresh reader each: the chain is walked from its keyframe
        with RecordingReader(path) as r:
            assert r.snapshot(i) == snaps[i]


def test_unchanged_nodes_are_shared_between_snapshots(tmp_path):
    path = tmp_path / "r.raytop"
    still = snapshots(1)[0].nodes
    write(path, [Snapshot(t=T0 + i, nodes=still[:3] + cluster(i)[3:]) for i in range(5)])
    with RecordingReader(path) as r:
        a, b = r.snapshot(2), r.snapshot(3)
        assert all(x is y for x, y in zip(a.nodes[:3], b.nodes[:3], strict=True))
        assert a.nodes[3] != b.nodes[3]


def test_a_schema_1_recording_still_reads():
    sys.path.insert(0, str(ROOT / "tests" / "data"))
    import make_fixtures

    with RecordingReader(ROOT / "tests" / "data" / "gpu_pipeline.raytop") as r:
        assert r.meta["schema_version"] == 1
        assert [r.snapshot(i) for i in (len(r) - 1, 17)] == [
            make_fixtures.snapshot(len(r) - 1, True), make_fixtures.snapshot(17, True)]
        assert list(r.iter_snapshots()) == [make_fixtures.snapshot(i, True) for i in range(len(r))]


def test_large_clusters_keep_readings_at_the_stated_resolution(tmp_path):
    path = tmp_path / "r.raytop"
    big = [Snapshot(t=T0 + i, nodes=tuple(node(random.Random(k * 100 + i), f"n{k}", i)
                                          for k in range(rec_writer._QUANTIZE_FROM_NODES)))
           for i in range(3)]
    write(path, big)
    mib = 1 << 20
    with RecordingReader(path) as r:
        for got, sent in zip(r.iter_snapshots(), big, strict=True):
            for a, b in zip(got.nodes, sent.nodes, strict=True):
                assert a.mem_used_bytes % mib == 0 and abs(a.mem_used_bytes - b.mem_used_bytes) <= mib // 2
                assert all(v % mib == 0 for v in a.heap_by_operator.values())
                assert [g.power_watts for g in a.gpus] == [float(round(g.power_watts)) for g in b.gpus]
                assert (a.cpu_percent, a.gpus[0].util_percent) == (b.cpu_percent, b.gpus[0].util_percent)


def test_a_damaged_delta_row_costs_the_rows_patched_on_it(tmp_path, monkeypatch):
    monkeypatch.setattr(rec_writer, "_KEYFRAME_ROWS", 10)
    path = tmp_path / "r.raytop"
    snaps = snapshots(30)
    write(path, snaps)
    con = sqlite3.connect(path)
    ids = [row[0] for row in con.execute("SELECT id FROM snapshots ORDER BY id")]
    con.execute("UPDATE snapshots SET data = ? WHERE id = ?", (b"\x28\xb5\x2f\xfd garbage", ids[5]))
    con.commit()
    con.close()
    with RecordingReader(path) as r:  # rows 5-10 need row 5; row 11 is the next keyframe
        got = list(r.iter_snapshots())
        assert [s.t - T0 for s in got] == [0, 1, 2, 3, 4] + list(range(11, 30))
        assert got == [s for i, s in enumerate(snaps) if not 5 <= i <= 10]
        assert r.skipped_note() == f"{path}: 6 of 30 snapshots are unreadable and were skipped"


@pytest.mark.parametrize("patch", [
    {"paths": [["cpu_percent"]], "cols": [[0, 1, [0], [5]]]},  # a difference on a float
    {"paths": [["cpu_percent"]], "cols": [[0, 0, [9], [1.0]]]},  # a node that is not there
    {"paths": [["gpus", 5, "index"]], "cols": [[0, 0, [0], [5]]]},  # a list with a gap
    {"paths": [["cpu_percent"]], "cols": [[0, 2, [0], [1], 99]]},  # an absurd unit
    {"base": [0, -1], "new": [], "paths": [], "cols": []},  # a new node missing
    {"paths": [[None]], "cols": []}, "not a patch", {"paths": []},
])
def test_a_hostile_node_patch_is_an_unreadable_row(tmp_path, patch):
    key = [node_codec.flatten({"node_id": "n0", "cpu_percent": 1.5, "gpus": [{"index": 0}]})]
    with pytest.raises((ValueError, TypeError, KeyError, IndexError)):
        for flat in node_codec.apply_patch(key, patch)[0]:
            node_codec.unflatten(flat)


def test_a_delta_row_pointing_nowhere_is_skipped_with_one_line(tmp_path):
    path = tmp_path / "r.raytop"
    snaps = snapshots(4)
    write(path, snaps)
    con = sqlite3.connect(path)
    con.execute("UPDATE snapshots SET base_id = 999 WHERE id = (SELECT max(id) FROM snapshots)")
    con.commit()
    con.close()
    with RecordingReader(path) as r:
        assert [s.t - T0 for s in r.iter_snapshots()] == [0, 1, 2] and r.skipped == 1
        assert r.snapshot(3) == snaps[2]  # the nearest readable one before it
    con = sqlite3.connect(path)
    con.execute("UPDATE snapshots SET base_id = id WHERE base_id IS NOT NULL")  # a loop
    con.commit()
    con.close()
    with RecordingReader(path) as r:
        assert list(r.iter_snapshots()) == snaps[:1] and r.skipped == 3
    con = sqlite3.connect(path)
    con.execute("UPDATE snapshots SET data = x'00' WHERE base_id IS NULL")
    con.commit()
    con.close()
    with pytest.raises(RecordingError, match="no readable snapshot"):
        RecordingReader(path)


def test_node_json_round_trips_through_flatten():
    value = {"node_id": "n", "a": [], "b": {}, "c": [{"x": 1, "y": [1, 2]}, {}],
             "d": {"k/1": None, "7": True}, "f": 4096, "g": 0.5}
    assert node_codec.unflatten(node_codec.flatten(value)) == value
    prev = [node_codec.flatten(value)]
    new = {"node_id": "n", "a": [3.25], "b": {}, "c": [{"x": 2, "y": [1]}], "d": {"7": False},
           "e": 1.0, "f": 3 * 4096, "g": 0.25}
    patch = node_codec.make_patch(["n"], prev, [new])
    assert "drop" in patch and "new" not in patch
    assert node_codec.unflatten(node_codec.apply_patch(prev, patch)[0][0]) == new


def test_nodes_handed_on_unchanged_are_written_as_unchanged(tmp_path, monkeypatch):
    """The sources hand on a node they did not read again as the same object: the writer takes
    its JSON from the previous row without comparing it; moved, replaced and re-quantized (the
    table crossing 64 nodes) nodes still round-trip."""
    monkeypatch.setattr(rec_writer, "_KEYFRAME_ROWS", 7)
    rng = random.Random(7)
    kept = cluster(0)
    snaps = []
    for i in range(24):
        fresh = cluster(i)
        nodes = (kept[0], fresh[1], kept[2]) + fresh[3:]  # n0 and n2: one object throughout
        if i % 5 == 4:
            nodes = nodes[::-1]  # the same objects, in another order
        if i >= 12:  # 64 nodes from here: the kept objects' JSON is quantized now
            nodes = nodes + tuple(node(rng, f"x{k}", i) for k in range(64))
        snaps.append(Snapshot(t=T0 + i, nodes=nodes))
    path = tmp_path / "r.raytop"
    write(path, snaps)
    with RecordingReader(path) as r:
        back = list(r.iter_snapshots())
    assert back[:12] == snaps[:12]
    big = back[12:]
    assert all(len(s.nodes) == len(kept) + 64 for s in big)
    kept_back = {n.node_id: n for n in big[-1].nodes if n.node_id in ("n0", "n2")}
    assert kept_back["n0"].mem_used_bytes % (1 << 20) == 0  # at the large table's resolution
    assert kept_back["n0"].cpu_percent == kept[0].cpu_percent
