"""Consumer: `iter_torch_batches()` (needs PyTorch; on a machine without it the script says so
and exits 0). Plants `actor-pool-undersized`.

    range(5k) -> map_batches(Featurizer, concurrency=1) -> for t in iter_torch_batches(): step

What is wrong: the featurizer's pool is fixed at one actor and the training step is quick: the
loop waits for the pipeline. The fix: `concurrency=(1, 2)`.
"""

import os
import sys
import time

import numpy as np
import ray

try:
    import torch
except ImportError:
    print("iter_torch_batches demo: PyTorch is not installed here, nothing to run")
    sys.exit(0)

ROWS = 5_000


class Featurizer:
    def __init__(self):
        self.w = np.random.default_rng(9).standard_normal((320, 320)).astype(np.float32)

    def __call__(self, batch):
        x = np.ones((96, 320), np.float32)
        start = time.perf_counter()
        while time.perf_counter() - start < 0.25:
            x = np.tanh(x @ self.w)
        batch["feat"] = np.repeat(x[:1, :8], len(batch["id"]), axis=0)
        return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = ray.data.range(ROWS, override_num_blocks=50).map_batches(
    Featurizer, batch_size=100, concurrency=1)  # WRONG: one actor on 2 CPUs
seen = 0
for batch in ds.iter_torch_batches(batch_size=100):
    seen += int(torch.as_tensor(batch["feat"]).shape[0])
print(f"rows={seen}")
