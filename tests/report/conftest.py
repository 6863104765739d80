"""Hand-built recordings for the report tests, written with the real RecordingWriter.

"before" and "after" are two runs of one pipeline whose figures are easy to compute by hand:

before: t = 1000..1010 (1 s), dataset window 1000..1010
  pre   = "ReadRange->MapBatches(pre)": rows 200/s until 1000 rows at t=1005  -> 200 rows/s
  model = "MapBatches(Model)":         rows 100/s, 1000 rows at t=1010        -> 100 rows/s
  GPU util alternates 20/40 -> mean 30 %; spilled rises 64 MiB/s from t=1002 -> max 512 MiB
  pre is backpressured (tasks:ResourceBudget) at t=1000..1003 -> 4 s
after:  t = 2000..2005 (1 s), dataset window 2000..2005
  pre   reaches 1000 rows at t=2003 (0, 333, 666, 1000)                       -> 333.33 rows/s
  model 200/s, 1000 rows at t=2005                                            -> 200 rows/s
  GPU util alternates 60/80 -> mean 70 %; spilled stays 0
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from raytop.model import (
    ActorCounts,
    DatasetStats,
    Event,
    GpuStats,
    LogicalOp,
    NodeStats,
    ObjectStore,
    OperatorStats,
    PhysicalOp,
    Plan,
    Snapshot,
)
from raytop.recording import RecordingWriter

MiB = 1 << 20
GiB = 1 << 30
PRE = "ReadRange->MapBatches(pre)"
MODEL = "MapBatches(Model)"


def make_plan() -> Plan:
    logical = (
        LogicalOp(id="0:ReadRange", name="ReadRange", op_class="Read", compute="task",
                  is_map=True, can_modify_num_rows=True, physical=PRE,
                  ray_remote_args={}),
        LogicalOp(id="1:MapBatches(pre)", name="MapBatches(pre)", op_class="MapBatches",
                  inputs=("0:ReadRange",), compute="task", is_map=True, physical=PRE,
                  ray_remote_args={}),
        LogicalOp(id="2:MapBatches(Model)", name="MapBatches(Model)", op_class="MapBatches",
                  inputs=("1:MapBatches(pre)",), compute="actor", min_size=1, max_size=1,
                  is_map=True, batch_size=64, physical=MODEL,
                  ray_remote_args={"num_gpus": 1}),
    )
    physical = (
        PhysicalOp(name=PRE, physical_class="TaskPoolMapOperator",
                   logical=("0:ReadRange", "1:MapBatches(pre)")),
        PhysicalOp(name=MODEL, physical_class="ActorPoolMapOperator",
                   logical=("2:MapBatches(Model)",), inputs=(PRE,)),
    )
    return Plan(logical=logical, physical=physical, ray_version="2.60.0")


def snapshot(t: float, *, pre_rows, model_rows, util, spilled, bp=(), state="RUNNING",
             start=None, end=None, heap=None) -> Snapshot:
    gpu = GpuStats(index=0, name="Test GPU", util_percent=util, mem_used_bytes=10 * GiB,
                   mem_total_bytes=16 * GiB)
    node = NodeStats(node_id="node-1", ip="10.0.0.1", is_head=True, cpu_percent=50.0,
                     mem_used_bytes=8 * GiB, mem_total_bytes=32 * GiB,
                     object_store=ObjectStore(used_bytes=1 * GiB, capacity_bytes=2 * GiB,
                                              spilled_bytes=spilled),
                     gpus=(gpu,), num_cpus=8.0, num_gpus=1.0, heap_bytes=heap)
    ops = (
        OperatorStats(name=PRE, physical_class="TaskPoolMapOperator",
                      logical=("ReadRange", "MapBatches(pre)"), compute="task",
                      rows_out=pre_rows, input_queue_blocks=0, tasks_running=2,
                      backpressure=tuple(bp), heap_bytes=heap),
        OperatorStats(name=MODEL, physical_class="ActorPoolMapOperator",
                      logical=("MapBatches(Model)",), compute="actor", rows_out=model_rows,
                      input_queue_blocks=3, tasks_running=1,
                      actors=ActorCounts(running=1, pending=0, idle=0, restarting=0)),
    )
    ds = DatasetStats(dataset_id="ds_1", state=state, rows_out=model_rows, operators=ops,
                      start_time=start, end_time=end, source="probe", plan=make_plan())
    return Snapshot(t=t, nodes=(node,), datasets=(ds,),
                    sources={"probe": "ok", "cluster": "ok", "gpu": "ok"}, ray_version="2.60.0")


def before_snapshots():
    out = []
    for i in range(11):
        out.append(snapshot(
            1000.0 + i, pre_rows=min(1000, 200 * i), model_rows=100 * i,
            util=20.0 if i % 2 == 0 else 40.0, spilled=max(0, i - 2) * 64 * MiB,
            bp=("tasks:ResourceBudget",) if i <= 3 else (), start=1000.0,
            end=1010.0 if i == 10 else None, state="FINISHED" if i == 10 else "RUNNING",
            heap=512 * MiB))
    return out


def after_snapshots():
    pre = [0, 333, 666, 1000, 1000, 1000]
    out = []
    for i in range(6):
        out.append(snapshot(
            2000.0 + i, pre_rows=pre[i], model_rows=200 * i, util=60.0 if i % 2 == 0 else 80.0,
            spilled=0, start=2000.0, end=2005.0 if i == 5 else None,
            state="FINISHED" if i == 5 else "RUNNING", heap=256 * MiB))
    return out


def write_recording(path: Path, snaps, events=(), exit_code=0) -> Path:
    w = RecordingWriter(path, meta={"command": ["python", "pipeline.py", "--token=s3cret"],
                                    "interval": 1.0, "host": "testhost"})
    for s in snaps:
        w.snapshot(s)
    for ev in events:
        w.event(ev)
    w.close(exit_code=exit_code)
    return path


COMMITTED = Path(__file__).resolve().parents[1] / "data"


def make_comparison_recordings(d: Path) -> tuple:
    before = write_recording(d / "before.raytop", before_snapshots(), events=[
        Event(t=1000.0, kind="dataset_started", dataset_id="ds_1"),
        Event(t=1010.0, kind="dataset_finished", dataset_id="ds_1", message="1000 rows")])
    after = write_recording(d / "after.raytop", after_snapshots())
    return before, after


@pytest.fixture(scope="session")
def recordings():
    """(before, after): the two committed recordings in tests/data (built by
    ``python -m tests.report.conftest``, from the hand-built snapshots above whose figures the
    tests compute by hand); read-only, copy before writing."""
    return COMMITTED / "before.raytop", COMMITTED / "after.raytop"


@pytest.fixture
def workdir(tmp_path, recordings):
    """A fresh folder holding copies of both recordings."""
    for p in recordings:
        shutil.copy(p, tmp_path / p.name)
    return tmp_path


@pytest.fixture
def histories():
    """(before, after) as in-memory Histories, for the pure figures."""
    from raytop.report.history import History

    return (History(tuple(before_snapshots()), name="before.raytop"),
            History(tuple(after_snapshots()), name="after.raytop"))


@pytest.fixture
def make_snapshot():
    return snapshot


if __name__ == "__main__":  # rebuild the committed comparison recordings
    for p in (COMMITTED / "before.raytop", COMMITTED / "after.raytop"):
        p.unlink(missing_ok=True)
    print(make_comparison_recordings(COMMITTED))
