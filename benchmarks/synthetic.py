"""Synthetic readings at cluster scale: what the sources would hand the collector for a cluster of
256 nodes x 8 GPUs running one dataset of 40 physical operators on 10,000 worker processes.

``ScaleSim.parts(step)`` gives the sources' Parts (cluster nodes, GPU and process overlays, the
probe's dataset), so the collector's merge is measured on real input; ``ScaleSim.snapshot(step)``
is their merge. Values evolve from step to step (counters grow, queues wander, memory moves) so the
advisor and the TUI see a changing cluster, not one frame repeated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.recording_size import make_plan
from raytop.merge import merge_parts
from raytop.model import (
    ActorCounts,
    DatasetStats,
    GpuProcess,
    GpuStats,
    NodeStats,
    ObjectStore,
    OperatorStats,
    Resources,
    Snapshot,
)
from raytop.sources.base import NodeOverlay, Part

GiB = 1 << 30
MiB = 1 << 20
T0 = 1_760_000_000.0
SOURCES = {"probe": "ok", "cluster": "ok", "stats": "ok", "processes": "ok", "gpu": "ok"}


@dataclass(frozen=True)
class Scale:
    nodes: int = 256
    gpus_per_node: int = 8
    operators: int = 40
    workers: int = 10_000

    def describe(self) -> str:
        return (f"{self.nodes} nodes x {self.gpus_per_node} GPUs, {self.operators} operators, "
                f"{self.workers:,} worker processes")


FULL = Scale()


def operator_specs(n: int) -> list[tuple[str, str, tuple[str, ...], str]]:
    """A long pipeline: a fused read, then alternating CPU task maps and GPU actor pools."""
    specs = [("ReadParquet->MapBatches(decode)", "TaskPoolMapOperator",
              ("ReadParquet", "MapBatches(decode)"), "task")]
    for i in range(1, n - 1):
        if i % 4 == 3:
            name = f"MapBatches(Model{i})"
            specs.append((name, "ActorPoolMapOperator", (name,), "actor"))
        else:
            name = f"MapBatches(stage{i})"
            specs.append((name, "TaskPoolMapOperator", (name,), "task"))
    specs.append(("Write", "TaskPoolMapOperator", ("Write",), "task"))
    return specs[:n]


class ScaleSim:
    def __init__(self, scale: Scale = FULL, seed: int = 11):
        self.scale = scale
        self.rng = random.Random(seed)
        self.specs = operator_specs(scale.operators)
        self.plan = make_plan(self.specs)
        self.actor_ops = [s[0] for s in self.specs if s[3] == "actor"]
        self.node_ids = [f"{self.rng.getrandbits(224):056x}" for _ in range(scale.nodes)]
        self.ips = [f"10.{i // 250}.{i % 250}.{7 + i % 3}" for i in range(scale.nodes)]
        # workers spread over nodes; each one runs one operator
        self.node_workers: list[list[tuple[int, str, int]]] = [[] for _ in range(scale.nodes)]
        for w in range(scale.workers):
            op = self.specs[w % len(self.specs)][0]
            self.node_workers[w % scale.nodes].append(
                (100_000 + w, op, self.rng.randint(200, 900) * MiB))
        self.rows = [0] * len(self.specs)
        self.tasks = [0] * len(self.specs)
        self.spilled = [0] * scale.nodes

    # -- sources' parts ------------------------------------------------------------------
    def _nodes(self) -> tuple[NodeStats, ...]:
        rng = self.rng
        out = []
        for i, node_id in enumerate(self.node_ids):
            self.spilled[i] += rng.choice((0, 0, 0, rng.randint(1, 20) * MiB))
            out.append(NodeStats(
                node_id=node_id, ip=self.ips[i], is_head=i == 0,
                cpu_percent=rng.randint(0, 1000) / 10,
                mem_used_bytes=rng.randint(100, 900) * GiB // 1000 * 1000, mem_total_bytes=1024 * GiB,
                object_store=ObjectStore(used_bytes=rng.randint(1, 200) * GiB // 10,
                                         capacity_bytes=200 * GiB, spilled_bytes=self.spilled[i]),
                num_cpus=96.0, num_gpus=float(self.scale.gpus_per_node)))
        return tuple(out)

    def _gpu_overlays(self) -> tuple[NodeOverlay, ...]:
        rng = self.rng
        out = []
        for i, node_id in enumerate(self.node_ids):
            gpu_workers = [w for w in self.node_workers[i] if w[1] in self.actor_ops]
            gpus = []
            for g in range(self.scale.gpus_per_node):
                # one model actor per GPU, its memory well below the card's 80 GiB
                procs = tuple(GpuProcess(pid=pid, gpu_mem_bytes=rng.randint(8 * 1024, 60 * 1024) * MiB,
                                         operator=op)
                              for pid, op, _ in gpu_workers[g::self.scale.gpus_per_node][:1])
                gpus.append(GpuStats(
                    index=g, uuid=f"GPU-{node_id[:8]}-{g:04d}", name="NVIDIA H100 80GB HBM3",
                    util_percent=float(rng.randint(0, 100)),
                    mem_used_bytes=sum(p.gpu_mem_bytes for p in procs) + 600 * MiB,
                    mem_total_bytes=80 * GiB, power_watts=rng.randint(80, 700) * 1.0,
                    temp_c=float(rng.randint(35, 80)), processes=procs,
                    mem_util_percent=float(rng.randint(0, 100)), power_limit_watts=700.0))
            out.append(NodeOverlay(node_id=node_id, gpus=tuple(gpus), gpu_source="ok"))
        return tuple(out)

    def _process_parts(self) -> tuple[Part, ...]:
        rng = self.rng
        parts = []
        for i, node_id in enumerate(self.node_ids):
            heap: dict[str, int] = {}
            pids: dict[int, str] = {}
            for pid, op, rss in self.node_workers[i]:
                rss = rss + rng.randint(-64, 64) * 4096
                heap[op] = heap.get(op, 0) + rss
                pids[pid] = op
            parts.append(Part(overlays=(NodeOverlay(
                node_id=node_id, ip=self.ips[i], heap_bytes=sum(heap.values()),
                num_workers=len(self.node_workers[i]), heap_by_operator=heap),), pid_operators=pids))
        return tuple(parts)

    def _dataset(self, step: int) -> DatasetStats:
        rng = self.rng
        ops = []
        for k, (name, cls, logical, compute) in enumerate(self.specs):
            self.rows[k] += rng.randint(40_000, 60_000)
            self.tasks[k] += rng.randint(50, 150)
            q, out_q, running = rng.randint(0, 400), rng.randint(0, 100), rng.randint(0, 300)
            block = 4 * MiB + 4096 * k
            actors = None
            if compute == "actor":
                busy = rng.randint(100, 250)
                actors = ActorCounts(running=busy, pending=rng.randint(0, 5), idle=256 - busy, restarting=0)
            ops.append(OperatorStats(
                name=name, physical_class=cls, logical=logical, compute=compute, op_id=f"{name}_{k}",
                state="RUNNING", input_queue_blocks=q, input_queue_bytes=q * block,
                output_queue_blocks=out_q, output_queue_bytes=out_q * block,
                internal_input_queue_blocks=rng.randint(0, 8),
                internal_input_queue_bytes=rng.randint(0, 8) * block,
                internal_output_queue_blocks=rng.randint(0, 8),
                internal_output_queue_bytes=rng.randint(0, 8) * block,
                tasks_running=running, tasks_finished=self.tasks[k], tasks_failed=0, actors=actors,
                rows_out=self.rows[k], bytes_out=self.rows[k] * 4096, blocks_out=self.rows[k] // 1000,
                rows_total=10**9,
                backpressure=("tasks:ResourceBudget",) if rng.random() < 0.3 else (),
                usage=Resources(cpu=float(running), gpu=float(actors.running) if actors else 0.0,
                                object_store_bytes=(q + out_q) * block, memory_bytes=running * 512 * MiB),
                budget=Resources(cpu=4096.0, gpu=2048.0, object_store_bytes=rng.randint(500, 3000) * block,
                                 memory_bytes=None),
                avg_task_s=rng.uniform(0.5, 5.0), avg_block_bytes=float(block), avg_block_rows=1000.0,
                obj_store_mem_bytes=(q + out_q) * block,
                submission_backpressure_s=rng.uniform(0, 1) * step, output_backpressure_s=0.0))
        return DatasetStats(dataset_id="dataset_scale_0", state="RUNNING", rows_out=ops[-1].rows_out,
                            operators=tuple(ops), job_id="02000000", start_time=T0 - 5.0,
                            rows_total=10**9, source="probe", plan=self.plan)

    def parts(self, step: int) -> list[Part]:
        """What the sources return on one tick: probe, cluster, GPU, then one part per node's
        process sampler."""
        return [Part(datasets=(self._dataset(step),), address="10.0.0.7:6379", ray_version="2.60.0"),
                Part(nodes=self._nodes()),
                Part(overlays=self._gpu_overlays()),
                *self._process_parts()]

    def snapshot(self, step: int) -> Snapshot:
        return merge_parts(T0 + step, self.parts(step), dict(SOURCES))
