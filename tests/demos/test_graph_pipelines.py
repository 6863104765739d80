"""Real pipelines that are graphs (zip, union, join) with repeated operator names, task and actor
operators, run under `raytop run --headless` (demos/graph_pipelines.py --quick, 20-40 s each on
2 cores): one row per physical operator with its own figures, the plan's edges by op id, the
dataset's rows and what they mean, the report's graph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raytop.model import op_key
from raytop.plan_graph import build_graph
from raytop.recording import RecordingReader

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demos" / "graph_pipelines.py"
BRANCH = "ReadRange->MapBatches(<lambda>)"
ROWS = 6_000  # the demo's --quick size

_runs: dict = {}


def _run(which: str, tmp: Path):
    """(last dataset seen, all snapshots, report document) of one demo pipeline, once."""
    if which not in _runs:
        rec, out = tmp / f"{which}.raytop", tmp / f"{which}.json"
        env = dict(os.environ, RAY_ADDRESS="local")
        res = subprocess.run([sys.executable, "-m", "raytop", "run", "--headless", "--interval",
                              "0.5", "--record", str(rec), str(DEMO), which, "--quick"],
                             capture_output=True, text=True, cwd=tmp, timeout=300, env=env)
        assert res.returncode == 0, res.stderr[-3000:]
        res = subprocess.run([sys.executable, "-m", "raytop", "report", str(rec), "-o", str(out)],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        with RecordingReader(rec) as reader:
            snaps = tuple(reader.iter_snapshots())
        last = next(d for s in reversed(snaps) for d in s.datasets if d.state == "FINISHED")
        _runs[which] = (last, snaps, json.loads(out.read_text()))
    return _runs[which]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("graphs")


def _rows(ds, name):
    return sorted(o.rows_out for o in ds.operators if o.name == name)


def test_zip_and_union_keep_three_same_named_operators_apart(tmp):
    ds, _, doc = _run("zip", tmp)
    assert _rows(ds, BRANCH) == [ROWS // 6, ROWS, ROWS]  # three operators, not one folded row
    ids = [op_key(o) for o in ds.operators if o.name == BRANCH]
    assert len(set(ids)) == 3
    graph = build_graph(ds)
    zip_op = next(n for n in graph.nodes if n.name.startswith("ZipOperator"))
    assert list(zip_op.inputs) == ids[:2]  # the zip reads the first two branches, by id
    assert ds.rows_out == ROWS + ROWS // 6 and ds.rows_meaning.startswith("rows into count()")
    report_rows = {o["name"]: o["rows_out"] for o in doc["operators"] if o["name"].startswith(BRANCH)}
    assert sorted(report_rows.values()) == [ROWS // 6, ROWS, ROWS] and len(report_rows) == 3
    assert {n["key"] for n in doc["graphs"][ds.dataset_id]["nodes"]} >= set(ids)
    zip_edges = [e for e in doc["graphs"][ds.dataset_id]["edges"] if e["to"] == zip_op.key]
    assert [e["from"] for e in zip_edges] == ids[:2]
    # the zip holds its inputs until both branches are done: those blocks show on its edges
    assert max(e["queued_blocks_max"] or 0 for e in zip_edges) > 0


def test_the_bottleneck_is_never_the_zip_that_waits(tmp):
    ds, _, doc = _run("zip", tmp)
    neck = next(d for d in doc["datasets"] if d["dataset_id"] == ds.dataset_id)["bottleneck_id"]
    assert neck is None or not neck.startswith("ZipOperator")


def test_join_of_two_branches(tmp):
    pytest.importorskip("polars")  # Ray's join needs it
    ds, _, doc = _run("join", tmp)
    branches = [o for o in ds.operators if o.name == BRANCH]
    assert len(branches) == 2 and all(o.rows_out == ROWS for o in branches)
    graph = build_graph(ds)
    join = next(n for n in graph.nodes if len(graph.upstream(n.key)) == 2)
    sides = [graph.node(k) for k in join.inputs]
    if join.name.startswith("Join("):  # before Ray 2.57: one JoinOperator reads both branches
        assert list(join.inputs) == [op_key(o) for o in branches]
    else:  # a hash shuffle: each branch feeds its own shuffle map, both feed the reduce
        assert [s.name.split("(")[0] for s in sides] == ["JoinShuffleMapLeft", "JoinShuffleMapRight"]
        assert [graph.upstream(s.key) for s in sides] == [[op_key(o)] for o in branches]
    assert ds.rows_out == ROWS and ds.rows_meaning.startswith("rows into count()")
    assert len([o for o in doc["operators"] if o["name"].startswith(BRANCH)]) == 2


def test_union_of_three_branches_consumed_by_iter_batches(tmp):
    ds, _, doc = _run("union", tmp)
    assert _rows(ds, BRANCH) == [ROWS // 3] * 3
    assert ds.rows_out == ROWS and "taken by the consumer" in ds.rows_meaning
    labels = sorted(o["name"] for o in doc["operators"] if o["name"].startswith(BRANCH))
    assert len(labels) == 3 and all(" #" in label for label in labels)


def test_same_class_on_two_actor_pools_are_two_operators(tmp):
    ds, snaps, _ = _run("actors", tmp)
    pools = [o for o in ds.operators if o.compute == "actor"]
    assert len(pools) == 2 and len({o.name for o in pools}) == 1
    assert len({op_key(o) for o in pools}) == 2
    assert sorted(o.rows_out for o in pools) == [ROWS // 2, ROWS // 2]
    # Each pool's actors are counted on its own operator. A pool of the quick run can live
    # between two samples of a loaded machine, so "seen busy" is asked of one pool at least.
    counted = {op_key(o) for s in snaps for d in s.datasets for o in d.operators
               if o.compute == "actor" and o.actors is not None}
    busy = {op_key(o) for s in snaps for d in s.datasets for o in d.operators
            if o.compute == "actor" and o.actors is not None and o.actors.running}
    assert counted == {op_key(o) for o in pools} and busy
