"""A well-configured pipeline: the advisor should have nothing to warn about.

    range -> map_batches(load) -> map_batches(preprocess, batch_size=500) -> consume

Ray fuses `load` and `preprocess` (a different `batch_size` alone does not block fusion) but keeps
the read apart: the read may change the row count and the fused maps set `batch_size`, so Ray keeps
them apart to keep batches whole and the read's parallelism. raytop explains that boundary as
inherent and does not warn about it.
"""

import os
import time

import numpy as np
import ray

ROWS = 24_000


def load(batch):
    rng = np.random.default_rng(int(batch["id"][0]))
    batch["image"] = rng.integers(0, 256, size=(len(batch["id"]), 32, 32), dtype=np.uint8)
    return batch


def preprocess(batch):
    img = batch.pop("image").astype(np.float32) / 255.0
    batch["features"] = img.reshape(len(img), -1).mean(axis=1)
    time.sleep(0.05)  # stands in for real per-batch work
    return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = (ray.data.range(ROWS, override_num_blocks=24)
      .map_batches(load)
      .map_batches(preprocess, batch_size=500))
rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
print(f"rows={rows}")
