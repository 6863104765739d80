"""Build the small synthetic recordings the TUI tests replay.

    python tests/data/make_fixtures.py            # writes tests/data/{cpu,gpu}_pipeline.raytop

A 4-operator batch-inference pipeline over 60 one-second snapshots: a fused read+preprocess task
operator, an actor-pool model operator that becomes the bottleneck, a post-process and a write.
Queues build up, the read is backpressured by ResourceBudget, the object store fills and spills,
then the queues drain and the dataset finishes. ``cpu``: one node without GPU (the GPU source is
absent: NVML library not found). ``gpu``: one node with 2 GPUs used by the model, plus a second,
small dataset. Deterministic: the same bytes of content every run.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from raytop.model import (  # noqa: E402
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
)
from raytop.recording import RecordingWriter  # noqa: E402

T0 = 1_700_000_000.0
STEPS = 60
GIB = 1024 ** 3
MIB = 1024 ** 2
TOTAL_ROWS = 60_000
READ = "ReadRange->MapBatches(preprocess)"
MODEL = "MapBatches(Model)"
POST = "MapBatches(postprocess)"
WRITE = "Write"
DATA = Path(__file__).resolve().parent


def plan(gpu: bool) -> Plan:
    model_args = {"num_gpus": 1} if gpu else {"num_cpus": 1}
    logical = (
        LogicalOp(id="1:ReadRange", name="ReadRange", op_class="Read", compute="task",
                  can_modify_num_rows=True, is_map=True, physical=READ),
        LogicalOp(id="2:MapBatches(preprocess)", name="MapBatches(preprocess)", op_class="MapBatches",
                  inputs=("1:ReadRange",), compute="task", can_modify_num_rows=False, is_map=True,
                  physical=READ),
        LogicalOp(id="3:MapBatches(Model)", name=MODEL, op_class="MapBatches",
                  inputs=("2:MapBatches(preprocess)",), compute="actor", min_size=1, max_size=2,
                  ray_remote_args=model_args, batch_size=64, can_modify_num_rows=False, is_map=True,
                  physical=MODEL),
        LogicalOp(id="4:MapBatches(postprocess)", name=POST, op_class="MapBatches",
                  inputs=("3:MapBatches(Model)",), compute="task", ray_remote_args={"num_cpus": 0.5},
                  can_modify_num_rows=False, is_map=True, physical=POST),
        LogicalOp(id="5:Write", name=WRITE, op_class="Write", inputs=("4:MapBatches(postprocess)",),
                  compute="task", is_map=True, physical=WRITE),
    )
    physical = (
        PhysicalOp(READ, "TaskPoolMapOperator", ("1:ReadRange", "2:MapBatches(preprocess)")),
        PhysicalOp(MODEL, "ActorPoolMapOperator", ("3:MapBatches(Model)",), (READ,)),
        PhysicalOp(POST, "TaskPoolMapOperator", ("4:MapBatches(postprocess)",), (MODEL,)),
        PhysicalOp(WRITE, "TaskPoolMapOperator", ("5:Write",), (POST,)),
    )
    return Plan(logical=logical, physical=physical, ray_version="2.60.0", source="probe")


def _phase(i: int) -> float:
    """0 -> 1 while the model falls behind (i 5..35), back to 0 while draining (35..55)."""
    if i < 5:
        return 0.0
    if i < 35:
        return (i - 5) / 30
    return max(0.0, 1 - (i - 35) / 20)


def _rows(i: int, lag: float) -> int:
    done = min(1.0, max(0.0, (i - lag) / (STEPS - 6)))
    return int(TOTAL_ROWS * (0.5 - 0.5 * math.cos(math.pi * done)))


def operators(i: int, gpu: bool) -> tuple[OperatorStats, ...]:
    load = _phase(i)
    finished = i >= STEPS - 4
    model_q = 0 if finished else int(2 + 22 * load)
    read_bp = ("tasks:ResourceBudget",) if 18 <= i < 42 else ()
    post_bp = ("tasks:ConcurrencyCap",) if 44 <= i < 48 else ()
    pending = 1 if gpu and 3 <= i < 8 else 0
    running = 0 if i < 3 or finished else (1 if i < 8 else 2)
    state = "FINISHED" if finished else "RUNNING"
    heap_model = None if i < 3 else int((1.2 + 0.4 * load) * GIB)
    budget = Resources(cpu=2.0, gpu=2.0 if gpu else 0.0, object_store_bytes=int(1.5 * GIB))
    return (
        OperatorStats(
            name=READ, physical_class="TaskPoolMapOperator",
            logical=("ReadRange", "MapBatches(preprocess)"), compute="task", op_id=f"{READ}_1",
            state=state, input_queue_blocks=0, input_queue_bytes=0,
            output_queue_blocks=0 if finished else int(1 + 3 * load),
            output_queue_bytes=0 if finished else int((1 + 3 * load) * 24 * MIB),
            tasks_running=0 if finished else (1 if read_bp else 2), tasks_finished=i * 3,
            tasks_failed=0, rows_out=_rows(i, 0), bytes_out=_rows(i, 0) * 4096,
            rows_total=TOTAL_ROWS, backpressure=read_bp,
            usage=Resources(cpu=0.0 if finished else 2.0, gpu=0.0,
                            object_store_bytes=int((0.2 + 0.8 * load) * GIB)),
            budget=budget, heap_bytes=None if finished else int(310 * MIB),
            avg_task_s=0.42, avg_block_bytes=24.0 * MIB, avg_block_rows=1000.0,
            submission_backpressure_s=float(max(0, min(i, 42) - 18))),
        OperatorStats(
            name=MODEL, physical_class="ActorPoolMapOperator", logical=("MapBatches(Model)",),
            compute="actor", op_id=f"{MODEL}_2", state=state,
            input_queue_blocks=model_q, input_queue_bytes=model_q * 24 * MIB,
            internal_input_queue_blocks=0 if finished else 1,
            internal_input_queue_bytes=0 if finished else 24 * MIB,
            output_queue_blocks=0 if finished else 1, output_queue_bytes=0 if finished else 8 * MIB,
            tasks_running=running, tasks_finished=max(0, i - 3) * 2, tasks_failed=0,
            actors=ActorCounts(running=running, pending=pending, idle=0, restarting=0),
            rows_out=_rows(i, 2), bytes_out=_rows(i, 2) * 1024, rows_total=TOTAL_ROWS,
            usage=Resources(cpu=0.0 if gpu else float(running), gpu=float(running) if gpu else 0.0,
                            object_store_bytes=int(model_q * 24 * MIB)),
            budget=budget, heap_bytes=heap_model,
            gpu_mem_bytes=(int((9 + 6 * load) * GIB) * running) if gpu and running else None,
            avg_task_s=1.9, avg_block_bytes=8.0 * MIB, avg_block_rows=1000.0),
        OperatorStats(
            name=POST, physical_class="TaskPoolMapOperator", logical=("MapBatches(postprocess)",),
            compute="task", op_id=f"{POST}_3", state=state, input_queue_blocks=0 if finished else 1,
            input_queue_bytes=0 if finished else 8 * MIB, output_queue_blocks=0,
            output_queue_bytes=0, tasks_running=0 if finished else 1, tasks_finished=max(0, i - 4),
            tasks_failed=0, rows_out=_rows(i, 3), bytes_out=_rows(i, 3) * 512,
            rows_total=TOTAL_ROWS, backpressure=post_bp,
            usage=Resources(cpu=0.5, gpu=0.0, object_store_bytes=8 * MIB), budget=budget,
            heap_bytes=None if finished else int(180 * MIB), avg_task_s=0.05),
        OperatorStats(
            name=WRITE, physical_class="TaskPoolMapOperator", logical=("Write",), compute="task",
            op_id=f"{WRITE}_4", state=state, input_queue_blocks=0, input_queue_bytes=0,
            output_queue_blocks=0, output_queue_bytes=0, tasks_running=0 if finished else 1,
            tasks_finished=max(0, i - 5), tasks_failed=0, rows_out=_rows(i, 4),
            bytes_out=_rows(i, 4) * 512, rows_total=TOTAL_ROWS,
            usage=Resources(cpu=1.0, gpu=0.0, object_store_bytes=0), budget=budget,
            heap_bytes=None if finished else int(150 * MIB), avg_task_s=0.08),
    )


def node(i: int, gpu: bool, ops: tuple[OperatorStats, ...]) -> NodeStats:
    load = _phase(i)
    used = int((0.3 + 1.5 * load) * GIB)
    spilled = int(max(0, i - 30) * 40 * MIB) if i > 30 else 0
    gpus: tuple[GpuStats, ...] = ()
    model = next(op for op in ops if op.name == MODEL)
    running = model.actors.running if model.actors else 0
    if gpu:
        gpus = tuple(
            GpuStats(index=k, uuid=f"GPU-0000000{k}-aaaa-bbbb-cccc-dddddddddddd",
                     name="NVIDIA H100 80GB HBM3",
                     util_percent=(0.0 if k >= (running or 0) else float(int(35 + 50 * load))),
                     mem_used_bytes=int(((9 + 6 * load) if k < (running or 0) else 0.5) * GIB),
                     mem_total_bytes=80 * GIB, power_watts=90.0 + (300 * load if k < (running or 0) else 0),
                     temp_c=38.0 + 20 * load, power_limit_watts=700.0,
                     processes=((GpuProcess(pid=4100 + k, gpu_mem_bytes=int((9 + 6 * load) * GIB),
                                            operator=MODEL),) if k < (running or 0) else ()))
            for k in range(2))
    heap_by_op = {op.name: op.heap_bytes for op in ops if op.heap_bytes is not None}
    return NodeStats(
        node_id="a1b2c3d4e5f60718293a4b5c6d7e8f90", ip="10.0.0.12", is_head=True,
        cpu_percent=20 + 60 * load, mem_used_bytes=int((6 + 4 * load) * GIB),
        mem_total_bytes=32 * GIB,
        object_store=ObjectStore(used_bytes=used, capacity_bytes=2 * GIB, spilled_bytes=spilled),
        gpus=gpus, num_cpus=8.0, num_gpus=2.0 if gpu else 0.0,
        heap_bytes=sum(heap_by_op.values()) or None, num_workers=6 if i >= 3 else 2,
        heap_by_operator=heap_by_op,
        gpu_source="ok" if gpu else "absent: NVML library not found")


def eval_dataset(i: int) -> DatasetStats:
    done = min(1.0, i / 20)
    state = "FINISHED" if i >= 20 else "RUNNING"
    op = OperatorStats(name="ReadRange->MapBatches(score)", physical_class="TaskPoolMapOperator",
                       logical=("ReadRange", "MapBatches(score)"), compute="task", state=state,
                       input_queue_blocks=0, input_queue_bytes=0, output_queue_blocks=0,
                       output_queue_bytes=0, tasks_running=0 if i >= 20 else 1,
                       rows_out=int(5000 * done), rows_total=5000)
    return DatasetStats(dataset_id="eval_1", state=state, rows_out=int(5000 * done),
                        operators=(op,), job_id="01000000", start_time=T0,
                        end_time=T0 + 20 if i >= 20 else None, rows_total=5000, source="probe")


def snapshot(i: int, gpu: bool) -> Snapshot:
    ops = operators(i, gpu)
    finished = i >= STEPS - 4
    ds = DatasetStats(
        dataset_id="infer_0", state="FINISHED" if finished else "RUNNING",
        rows_out=ops[-1].rows_out, operators=ops, job_id="01000000", start_time=T0,
        end_time=T0 + STEPS - 4 if finished else None, rows_total=TOTAL_ROWS, source="probe",
        plan=plan(gpu))
    datasets = (ds, eval_dataset(i)) if gpu else (ds,)
    sources = {"cluster": "ok", "probe": "ok", "processes": "ok",
               "gpu": "ok" if gpu else "absent: NVML library not found"}
    return Snapshot(t=T0 + i, nodes=(node(i, gpu, ops),), datasets=datasets, sources=sources,
                    address="10.0.0.12:6379", ray_version="2.60.0")


def write(path: Path, gpu: bool) -> Path:
    meta = {"command": ["raytop", "run", "demos/batch_inference.py"], "raytop_version": "0.1.0",
            "ray_version": "2.60.0", "host": "fixture", "started_utc": "2023-11-14T22:13:20Z",
            "interval": 1.0}
    writer = RecordingWriter(path, meta=meta, force=True)
    writer.event(Event(t=T0, kind="dataset_started", message="infer_0 started", dataset_id="infer_0"))
    for i in range(STEPS):
        writer.snapshot(snapshot(i, gpu))
        if i == STEPS - 4:
            writer.event(Event(t=T0 + i, kind="dataset_finished", message="infer_0 finished",
                               dataset_id="infer_0"))
    writer.close(exit_code=0)
    return path


def main() -> None:
    for name, gpu in (("cpu_pipeline.raytop", False), ("gpu_pipeline.raytop", True)):
        out = write(DATA / name, gpu)
        print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
