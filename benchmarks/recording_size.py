"""Recording size and seek speed on realistic snapshots of the demo pipeline.

Targets (docs/recording.md): <= 5 MB per hour at 1 Hz (~1.4 KB per snapshot) and <= 200 ms to
open a one-hour recording (3600 snapshots) and read the snapshot at a random time.

    python benchmarks/recording_size.py [--seconds 3600] [--keep PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raytop.model import (  # noqa: E402
    ActorCounts,
    DatasetStats,
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
from raytop.recording import (  # noqa: E402
    RecordingReader,
    RecordingWriter,
    codec,
)

GiB = 1 << 30
MiB = 1 << 20
T0 = 1_760_000_000.0

# The demo pipeline: read -> preprocess (fused) -> model (actor pool) -> postprocess -> write.
_OPS = [
    ("ReadRange->MapBatches(decode)->MapBatches(preprocess)", "TaskPoolMapOperator",
     ("ReadRange", "MapBatches(decode)", "MapBatches(preprocess)"), "task"),
    ("MapBatches(tokenize)", "TaskPoolMapOperator", ("MapBatches(tokenize)",), "task"),
    ("MapBatches(Model)", "ActorPoolMapOperator", ("MapBatches(Model)",), "actor"),
    ("MapBatches(postprocess)->Filter(keep)", "TaskPoolMapOperator",
     ("MapBatches(postprocess)", "Filter(keep)"), "task"),
    ("MapBatches(Embed)", "ActorPoolMapOperator", ("MapBatches(Embed)",), "actor"),
    ("Repartition", "AllToAllOperator", ("Repartition",), "other"),
    ("MapBatches(format)", "TaskPoolMapOperator", ("MapBatches(format)",), "task"),
    ("Write", "TaskPoolMapOperator", ("Write",), "task"),
]


def make_plan(ops) -> Plan:
    logical, physical = [], []
    prev_phys = None
    idx = 0
    for name, cls, logical_names, compute in ops:
        ids = []
        for lname in logical_names:
            lid = f"{idx}:{lname}"
            logical.append(LogicalOp(
                id=lid, name=lname, op_class=lname.split("(")[0], compute=compute,
                inputs=(logical[-1].id,) if logical else (), min_size=1 if compute == "actor" else None,
                max_size=2 if compute == "actor" else None,
                ray_remote_args={"num_cpus": 1, "num_gpus": 1 if "Model" in lname else 0},
                batch_size=64 if lname.startswith("MapBatches") else None,
                can_modify_num_rows=lname.startswith("Filter"), is_map=lname != "Repartition",
                physical=name))
            ids.append(lid)
            idx += 1
        physical.append(PhysicalOp(name=name, physical_class=cls, logical=tuple(ids),
                                   inputs=(prev_phys,) if prev_phys else ()))
        prev_phys = name
    return Plan(logical=tuple(logical), physical=tuple(physical), ray_version="2.60.0")


class PipelineSim:
    """Values that evolve the way the demo's do: cumulative counters grow, queues and running
    tasks wander, worker memory moves in pages, means are full-precision floats. The two finished
    datasets keep their final figures, as the collector keeps reporting them."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.plans = [(f"demo_{i}_{1000 + i * 37}", make_plan(_OPS)) for i in range(3)]
        self.rows = [0] * len(_OPS)
        self.tasks = [0] * len(_OPS)
        self.heap = {spec[0]: self.rng.randint(200, 900) * 1 << 20 for spec in _OPS}
        self.gpu_mem = [self.rng.randint(4, 20) * GiB, self.rng.randint(4, 20) * GiB]
        self.spilled = 0
        self.bp_s = [[0.0, 0.0] for _ in _OPS]
        self.finished = [self._dataset(n, 3000, final=True) for n in range(len(self.plans) - 1)]

    def _operator(self, k: int, spec, step: int, final: bool) -> OperatorStats:
        rng = self.rng
        name, cls, logical, compute = spec
        block_bytes = (1 << 20) + 4096 * k  # blocks of one operator are the same size
        if final:
            rows, tasks, q, running = 2_000_000, 4000 + k, 0, 0
        else:
            self.rows[k] += rng.randint(400, 600) if step else 0
            self.tasks[k] += rng.randint(0, 3)
            rows, tasks = self.rows[k], self.tasks[k]
            q, running = rng.randint(0, 30), rng.randint(0, 4)
            self.bp_s[k][0] += rng.choice((0.0, 0.0, rng.uniform(0, 1)))
            self.bp_s[k][1] += rng.choice((0.0, 0.0, 0.0, rng.uniform(0, 1)))
        actors = None
        if compute == "actor":
            busy = 0 if final else rng.randint(1, 2)
            actors = ActorCounts(running=busy, pending=0, idle=(0 if final else 2 - busy),
                                 restarting=0)
        out_q = 0 if final else rng.randint(0, 6)
        return OperatorStats(
            name=name, physical_class=cls, logical=logical, compute=compute, op_id=f"{name}_{k}",
            state="FINISHED" if final else "RUNNING",
            input_queue_blocks=q, input_queue_bytes=q * block_bytes,
            output_queue_blocks=out_q, output_queue_bytes=out_q * block_bytes,
            internal_input_queue_blocks=0 if final else rng.randint(0, 2),
            internal_input_queue_bytes=0 if final else rng.randint(0, 2) * block_bytes,
            internal_output_queue_blocks=0 if final else rng.randint(0, 2),
            internal_output_queue_bytes=0 if final else rng.randint(0, 2) * block_bytes,
            tasks_running=running, tasks_finished=tasks, tasks_failed=0, actors=actors,
            rows_out=rows, bytes_out=rows * 1038, blocks_out=rows // 1000, rows_total=2_000_000,
            backpressure=("tasks:ResourceBudget",) if not final and rng.random() < 0.3 else (),
            usage=Resources(cpu=float(running), gpu=1.0 if compute == "actor" else 0.0,
                            object_store_bytes=(q + out_q) * block_bytes, memory_bytes=running * 512 << 20),
            budget=None if final else Resources(
                cpu=2.0, gpu=1.0, object_store_bytes=rng.randint(50, 300) * block_bytes, memory_bytes=None),
            heap_bytes=self.heap[name], gpu_mem_bytes=self.gpu_mem[0] if "Model" in name else
            self.gpu_mem[1] if "Embed" in name else None,
            avg_task_s=(0.05 + 0.1 * k) if final else rng.uniform(0.05, 2.0),
            avg_block_bytes=float(block_bytes), avg_block_rows=1000.0,
            obj_store_mem_bytes=(q + out_q) * block_bytes,
            submission_backpressure_s=self.bp_s[k][0], output_backpressure_s=self.bp_s[k][1])

    def _dataset(self, n: int, step: int, final: bool) -> DatasetStats:
        ds_id, plan = self.plans[n]
        ops = tuple(self._operator(k, spec, step, final) for k, spec in enumerate(_OPS))
        start = T0 - 600 * (len(self.plans) - 1 - n)
        return DatasetStats(
            dataset_id=ds_id, state="FINISHED" if final else "RUNNING", rows_out=ops[-1].rows_out,
            operators=ops, job_id="01000000", start_time=start, end_time=start + 500 if final else None,
            rows_total=2_000_000, source="probe", plan=plan)

    def snapshot(self, step: int) -> Snapshot:
        rng = self.rng
        for name in self.heap:  # RSS/USS moves in pages
            self.heap[name] = max(1 << 20, self.heap[name] + rng.randint(-256, 256) * 4096)
        if rng.random() < 0.05:
            self.gpu_mem[rng.randint(0, 1)] += rng.choice((-1, 1)) * (2 << 20)
        self.spilled += rng.choice((0, 0, 0, rng.randint(1, 50) * MiB))
        running = self._dataset(len(self.plans) - 1, step, final=False)
        gpu = GpuStats(
            index=0, uuid="GPU-5a1f3c2e-8d7b-4e1a-9c3d-2b6f0e4a7c91", name="NVIDIA H100 80GB HBM3",
            util_percent=float(rng.randint(0, 100)), mem_used_bytes=sum(self.gpu_mem) + 600 * (1 << 20),
            mem_total_bytes=80 * GiB, power_watts=rng.randint(80_000, 700_000) / 1000,
            temp_c=float(rng.randint(40, 75)),
            processes=(GpuProcess(pid=41234, gpu_mem_bytes=self.gpu_mem[0], operator="MapBatches(Model)"),
                       GpuProcess(pid=41235, gpu_mem_bytes=self.gpu_mem[1], operator="MapBatches(Embed)")),
            mem_util_percent=float(rng.randint(0, 100)), power_limit_watts=700.0)
        node = NodeStats(
            node_id="3f9c2a7b1e4d6f8a0c5b9e2d7a1f4c6b8e0d3a5f7c9b1e2d4f6a8c0b", ip="10.0.3.17",
            is_head=True, cpu_percent=rng.randint(0, 1000) / 10,
            mem_used_bytes=rng.randint(20 * GiB // 4096, 60 * GiB // 4096) * 4096, mem_total_bytes=128 * GiB,
            object_store=ObjectStore(used_bytes=sum(o.obj_store_mem_bytes for o in running.operators),
                                     capacity_bytes=9 * GiB, spilled_bytes=self.spilled),
            gpus=(gpu,), num_cpus=16.0, num_gpus=1.0, heap_bytes=sum(self.heap.values()),
            num_workers=14, heap_by_operator=dict(self.heap), gpu_source="ok")
        return Snapshot(t=T0 + step + rng.uniform(0, 0.003), nodes=(node,),
                        datasets=tuple(self.finished) + (running,),
                        sources={"probe": "ok", "cluster": "ok", "processes": "ok", "gpu": "ok"},
                        address="10.0.3.17:6379", ray_version="2.60.0")


def measure(seconds: int, path: Path) -> dict:
    """Write ``seconds`` snapshots at 1 Hz to ``path``, then time open + seek + decode (5 random
    times, a fresh reader each) and decoding everything. Returns the figures."""
    sim = PipelineSim()
    meta = {"command": ["raytop", "run", "demos/batch_inference.py"], "interval": 1.0}
    w = RecordingWriter(path, meta=meta)
    t_write = time.perf_counter()
    for step in range(seconds):
        w.snapshot(sim.snapshot(step))
    t_write = time.perf_counter() - t_write
    payload = w.bytes_written
    w.close(exit_code=0)
    size = path.stat().st_size
    n = seconds
    seeks = []
    for k in range(5):
        t = T0 + random.Random(k).uniform(0, n)
        t0 = time.perf_counter()
        r = RecordingReader(path)
        snap = r.snapshot_at(t)
        seeks.append(time.perf_counter() - t0)
        assert snap.t <= t and len(r) == n
        r.close()
    r = RecordingReader(path)
    t0 = time.perf_counter()
    for _ in r.iter_snapshots():
        pass
    decode_all = time.perf_counter() - t0
    r.close()
    return {"snapshots": n, "file_bytes": size, "bytes_per_snapshot": size / n,
            "payload_bytes_per_snapshot": payload / n, "mb_per_hour": size / n * 3600 / 1e6,
            "write_ms_per_snapshot": t_write / n * 1e3, "seek_ms": [s * 1e3 for s in seeks],
            "decode_ms_per_snapshot": decode_all / n * 1e3,
            "operators": sum(len(d.operators) for d in sim.snapshot(n).datasets)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--keep", type=Path, default=None, help="keep the recording at this path")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    path = args.keep or Path(tmp.name) / "bench.raytop"
    if path.exists():
        os.unlink(path)
    sample = PipelineSim().snapshot(1)
    data, _ = codec.split_plans(sample)
    raw_json = codec.dumps(data)
    plain = codec.make_compressor(None).compress(raw_json)
    print(f"snapshot ({sum(len(d.operators) for d in sample.datasets)} operators in"
          f" {len(sample.datasets)} datasets) as JSON without plans: {len(raw_json)} B;"
          f" plain zstd-{codec.ZSTD_LEVEL}: {len(plain)} B;"
          f" one plan as JSON: {len(codec.plan_bytes(sample.datasets[0].plan)[1])} B")
    m = measure(args.seconds, path)
    n = m["snapshots"]
    print(f"{n} snapshots: file {m['file_bytes'] / 1e6:.2f} MB = {m['bytes_per_snapshot']:.0f} B/snapshot"
          f" (payload {m['payload_bytes_per_snapshot']:.0f} B/snapshot); per hour at 1 Hz:"
          f" {m['mb_per_hour']:.2f} MB [target <= 5 MB]")
    print(f"write: {m['write_ms_per_snapshot']:.2f} ms/snapshot (encode + compress + commit)")
    seeks = sorted(m["seek_ms"])
    print(f"open + seek + decode: median {seeks[2]:.1f} ms, max {seeks[-1]:.1f} ms"
          f" [target <= 200 ms]")
    print(f"decode all: {m['decode_ms_per_snapshot']:.2f} ms/snapshot")
    if m["mb_per_hour"] > 5:
        print("SIZE TARGET MISSED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
