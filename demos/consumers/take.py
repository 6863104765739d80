"""Consumer: `take()`. Plants `actor-pool-undersized`.

    from_numpy(40 arrays) -> map_batches(Detector, concurrency=1) -> take(4000)

What is wrong: the detector is the slow stage on a pool fixed at one actor; `take()` ends the
plan with a `limit=` operator that only forwards rows and is never the bottleneck.
The fix: `concurrency=(1, 2)`.
"""

import os
import time

import numpy as np
import ray

ROWS = 4_000


class Detector:
    def __init__(self):
        self.k = np.random.default_rng(3).standard_normal((256, 256)).astype(np.float32)

    def __call__(self, batch):
        x = np.ones((128, 256), np.float32)
        start = time.perf_counter()
        while time.perf_counter() - start < 0.25:
            x = np.maximum(x @ self.k, 0) / 16
        batch["boxes"] = batch["data"] % 13
        return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
arrays = np.array_split(np.arange(ROWS), 40)
rows = ray.data.from_numpy(arrays).map_batches(
    Detector, batch_size=64, concurrency=1).take(ROWS)  # WRONG: one actor on 2 CPUs
print(f"rows={len(rows)}")
