"""Plants `actor-pool-undersized`: one model actor does all the work while a CPU stays free.

    from_numpy(24 arrays) -> map_batches(preprocess) -> map_batches(Embedder, batch_size=64,
                                         compute=ActorPoolStrategy(size=1)) -> consume

What is wrong: the embedding model is the slow stage, but the pool is pinned to a single actor.
The input is already in memory, so blocks queue up in front of the one busy actor while the
second CPU of the machine has nothing to do.
The fix: let the pool grow into the free CPU, `compute=ActorPoolStrategy(min_size=1, max_size=2)`.
"""

import os

import numpy as np
import ray

ROWS = int(os.environ.get("DEMO_ROWS", "3200"))  # more rows: the same problem, for longer


def preprocess(batch):
    batch["x"] = (batch["data"] % 997).astype(np.float32) / 997.0
    return batch


class Embedder:
    def __init__(self):
        rng = np.random.default_rng(0)
        self.w1 = rng.standard_normal((256, 1024), dtype=np.float32)
        self.w2 = rng.standard_normal((1024, 1024), dtype=np.float32)

    def __call__(self, batch):
        x = np.repeat(batch["x"][:, None], 256, axis=1)
        h = np.tanh(x @ self.w1)
        for _ in range(60):  # a heavy model: most of the pipeline's time is spent here
            h = np.tanh(h @ self.w2)
        batch["embedding"] = h[:, :8]
        return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = (ray.data.from_numpy(np.array_split(np.arange(ROWS), 24))
      .map_batches(preprocess)
      .map_batches(Embedder, batch_size=64,
                   compute=ray.data.ActorPoolStrategy(size=1)))  # WRONG: one actor, 2 CPUs
rows = sum(len(b["data"]) for b in ds.iter_batches(batch_size=None))
print(f"rows={rows}")
