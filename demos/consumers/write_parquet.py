"""Consumer: `write_parquet()`. Plants `actor-pool-undersized` in a pipeline that ends in a write.

    range(6k) -> map_batches(Scorer, batch_size=100, concurrency=1) -> write_parquet(tmp)

What is wrong: the scoring model is the slow stage and its pool is fixed at one actor
(`concurrency=1`). Blocks pile up in front of it while the machine's other CPU only runs the
cheap read; the Write after it is not the bottleneck, it waits for the model.
The fix: `concurrency=(1, 2)` (or `compute=ActorPoolStrategy(min_size=1, max_size=2)`).
The Write operator's rows/s are the rows it writes.
"""

import os
import shutil
import tempfile
import time

import numpy as np
import ray

ROWS = 6_000


class Scorer:
    def __init__(self):
        self.w = np.random.default_rng(1).standard_normal((384, 384)).astype(np.float32)

    def __call__(self, batch):
        x = np.ones((64, 384), np.float32)
        start = time.perf_counter()
        while time.perf_counter() - start < 0.25:  # a model's forward pass, on the CPU
            x = np.tanh(x @ self.w)
        batch["score"] = (batch["id"] % 7).astype(np.float32) + float(x[0, 0])
        return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
out = tempfile.mkdtemp(prefix="raytop-demo-write-")
try:
    (ray.data.range(ROWS, override_num_blocks=60)
     .map_batches(Scorer, batch_size=100, concurrency=1)  # WRONG: one actor on 2 CPUs
     .write_parquet(out))
    print(f"files={len(os.listdir(out))}")
finally:
    shutil.rmtree(out, ignore_errors=True)
