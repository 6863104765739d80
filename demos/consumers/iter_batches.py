"""Consumer: a training-style loop over `iter_batches()` that waits on the pipeline. Plants
`actor-pool-undersized`.

    range(5k) -> map_batches(Encoder, concurrency=1) -> for batch in iter_batches(): step()

What is wrong: the encoder's pool is fixed at one actor. The loop's own step is quick, so it
spends its time waiting for batches (the consumer line says so) and the fix is in the pipeline:
`concurrency=(1, 2)`.
"""

import os
import time

import numpy as np
import ray

ROWS = 5_000


class Encoder:
    def __init__(self):
        self.w = np.random.default_rng(4).standard_normal((320, 320)).astype(np.float32)

    def __call__(self, batch):
        x = np.ones((96, 320), np.float32)
        start = time.perf_counter()
        while time.perf_counter() - start < 0.25:
            x = np.tanh(x @ self.w)
        batch["emb"] = np.repeat(x[:1, :4], len(batch["id"]), axis=0)
        return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = ray.data.range(ROWS, override_num_blocks=50).map_batches(
    Encoder, batch_size=100, concurrency=1)  # WRONG: one actor on 2 CPUs
seen = 0
for batch in ds.iter_batches(batch_size=100):
    seen += len(batch["id"])  # the training step: quick
print(f"rows={seen}")
