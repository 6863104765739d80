"""Consumer: `to_pandas()`. Plants `actor-pool-undersized`.

    range_tensor(4.8k, shape=(16,)) -> map_batches(Projector, concurrency=1) -> to_pandas()

What is wrong: the projection model runs on one actor while the machine has a second CPU.
The fix: `concurrency=(1, 2)`.
"""

import os
import time

import numpy as np
import ray

ROWS = 4_800


class Projector:
    def __init__(self):
        self.p = np.random.default_rng(6).standard_normal((16, 16)).astype(np.float32)
        self.big = np.random.default_rng(7).standard_normal((400, 400)).astype(np.float32)

    def __call__(self, batch):
        x = np.ones((64, 400), np.float32)
        start = time.perf_counter()
        while time.perf_counter() - start < 0.25:
            x = np.tanh(x @ self.big)
        batch["proj"] = batch["data"].astype(np.float32) @ self.p
        return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = ray.data.range_tensor(ROWS, shape=(16,), override_num_blocks=48).map_batches(
    Projector, batch_size=100, concurrency=1)  # WRONG: one actor on 2 CPUs
df = ds.to_pandas()
print(f"rows={len(df)}")
