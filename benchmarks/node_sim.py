"""A cluster's node table as it evolves second by second, for sizing recordings.

What changes and how often is what decides a recording's size, so it follows real readings:

- every tick, on every node: CPU % (a random walk, 0.1 % steps), host memory used (moves in
  4 KiB pages), object store used (blocks of 4 MiB come and go), each worker's RSS (pages), so the
  node's heap and its per-operator heap, and per GPU the utilisation, memory utilisation (whole %)
  and power (milliwatts, as NVML reports it);
- now and then: spilled bytes grow (1 tick in 20), a GPU's temperature moves a degree (1 in 10), a
  GPU process's memory moves (1 in 100: PyTorch's caching allocator holds its memory);
- never: ids, addresses, totals, device names, the worker set;
- membership: every ``churn_every`` ticks a node dies (``alive`` false for a minute, then gone)
  and a new node joins.

``ClusterSim(nodes, gpus).snapshot(step)`` adds one running dataset of 40 operators
(synthetic.ScaleSim's), whose figures also change every tick.
"""

from __future__ import annotations

import random

from benchmarks.synthetic import SOURCES, T0, Scale, ScaleSim
from raytop.model import GpuProcess, GpuStats, NodeStats, ObjectStore, Snapshot

GiB = 1 << 30
MiB = 1 << 20
PAGE = 4096


class _Node:
    def __init__(self, rng: random.Random, i: int, gpus: int, ops: list[str]):
        self.rng = rng
        self.node_id = f"{rng.getrandbits(224):056x}"
        self.ip = f"10.{i // 250 % 250}.{i % 250}.{7 + i % 3}"
        self.cpu = rng.uniform(20, 90)
        self.mem = rng.randint(100, 900) * GiB // PAGE
        self.store = rng.randint(0, 40)  # 4 MiB blocks
        self.spilled = 0
        self.workers = [[100_000 + i * 16 + w, ops[(i + w * 4) % len(ops)],
                         rng.randint(200, 900) * MiB // PAGE] for w in range(10)]
        self.gpus = [[rng.randint(50, 100), rng.randint(20, 80), rng.uniform(200, 650),
                      rng.randint(45, 70), rng.randint(8 * 1024, 60 * 1024) * MiB]
                     for _ in range(gpus)]
        self.died_at: int | None = None

    def tick(self) -> None:
        rng = self.rng
        self.cpu = min(100.0, max(0.0, self.cpu + rng.gauss(0, 3)))
        self.mem += rng.randint(-2560, 2560)
        self.store = max(0, self.store + rng.randint(-3, 3))
        if rng.random() < 0.05:
            self.spilled += rng.randint(1, 20) * MiB
        for w in self.workers:
            w[2] = max(1, w[2] + rng.randint(-64, 64))
        for g in self.gpus:
            g[0] = min(100, max(0, g[0] + rng.randint(-10, 10)))
            g[1] = min(100, max(0, g[1] + rng.randint(-8, 8)))
            g[2] = min(700.0, max(60.0, g[2] + rng.gauss(0, 15)))
            if rng.random() < 0.1:
                g[3] += rng.choice((-1, 1))
            if rng.random() < 0.01:
                g[4] += rng.choice((-1, 1)) * rng.randint(1, 64) * 2 * MiB

    def stats(self, is_head: bool) -> NodeStats:
        heap: dict[str, int] = {}
        for _, op, pages in self.workers:
            heap[op] = heap.get(op, 0) + pages * PAGE
        gpus, gpu_by_op = [], {}
        for k, (util, mem_util, watts, temp, proc_mem) in enumerate(self.gpus):
            pid, op, _ = self.workers[k % len(self.workers)]
            gpu_by_op[op] = gpu_by_op.get(op, 0) + proc_mem
            gpus.append(GpuStats(
                index=k, uuid=f"GPU-{self.node_id[:8]}-{k:04d}", name="NVIDIA H100 80GB HBM3",
                util_percent=float(util), mem_used_bytes=proc_mem + 600 * MiB,
                mem_total_bytes=80 * GiB, power_watts=round(watts * 1000) / 1000, temp_c=float(temp),
                processes=(GpuProcess(pid=pid, gpu_mem_bytes=proc_mem, operator=op),),
                mem_util_percent=float(mem_util), power_limit_watts=700.0))
        return NodeStats(
            node_id=self.node_id, ip=self.ip, is_head=is_head, cpu_percent=round(self.cpu, 1),
            mem_used_bytes=self.mem * PAGE, mem_total_bytes=1024 * GiB,
            object_store=ObjectStore(used_bytes=self.store * 4 * MiB, capacity_bytes=200 * GiB,
                                     spilled_bytes=self.spilled),
            gpus=tuple(gpus), alive=self.died_at is None, num_cpus=96.0,
            num_gpus=float(len(self.gpus)), heap_bytes=sum(heap.values()),
            num_workers=len(self.workers), heap_by_operator=heap,
            gpu_source="ok" if self.gpus else "absent: no NVIDIA driver",
            gpu_mem_by_operator=gpu_by_op)


class ClusterSim:
    def __init__(self, nodes: int, gpus_per_node: int = 8, churn_every: int = 600, seed: int = 5):
        self.rng = random.Random(seed)
        self.gpus = gpus_per_node
        self.churn_every = churn_every
        self.pipeline = ScaleSim(Scale(nodes=1, gpus_per_node=0, operators=40, workers=1), seed=seed)
        self.ops = [spec[0] for spec in self.pipeline.specs]
        self.joined = 0
        self.nodes = [self._new_node() for _ in range(nodes)]

    def _new_node(self) -> _Node:
        self.joined += 1
        return _Node(self.rng, self.joined, self.gpus, self.ops)

    def _churn(self, step: int) -> None:
        if step and step % self.churn_every == 0 and len(self.nodes) > 2:
            victim = self.nodes[1 + self.rng.randrange(len(self.nodes) - 1)]  # never the head
            if victim.died_at is None:
                victim.died_at = step
            self.nodes.append(self._new_node())
        self.nodes = [n for n in self.nodes if n.died_at is None or step - n.died_at < 60]

    def node_table(self, step: int) -> tuple[NodeStats, ...]:
        self._churn(step)
        for node in self.nodes:
            if node.died_at is None:
                node.tick()
        return tuple(n.stats(i == 0) for i, n in enumerate(self.nodes))

    def snapshot(self, step: int) -> Snapshot:
        return Snapshot(t=T0 + step + self.rng.uniform(0, 0.003), nodes=self.node_table(step),
                        datasets=(self.pipeline._dataset(step),), sources=dict(SOURCES),
                        address="10.0.0.7:6379", ray_version="2.60.0")
