"""Plants `object-store-pressure`: an object store too small for the blocks the pipeline streams.

    ray.init(object_store_memory=150 MiB)
    range -> map_batches(decode) (16 MiB blocks) -> consume

What is wrong: the object store was sized for a laptop (150 MiB; Ray's default is 30 % of RAM).
Ray Data may use half of it, about four 16 MiB blocks in flight, so `decode` keeps stalling on
its object store budget (backpressure `ResourceBudget`) while both CPUs could be decoding.
The fix: leave `object_store_memory` at its default or size it for the data in flight
(several blocks per CPU), e.g. `ray.init(object_store_memory=1024**3)`.
"""

import os

import numpy as np
import ray

IMAGES = 25_600
SIDE = 256  # 64 images x 256 x 256 x 4 bytes = 16 MiB per block


def decode(batch):
    rng = np.random.default_rng(int(batch["id"][0]))
    batch["image"] = rng.random((len(batch["id"]), SIDE, SIDE), dtype=np.float32)
    return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
# WRONG: far too small a store
ray.init(**({"num_cpus": 2, "object_store_memory": 150 * 1024**2} if own_cluster else {}))
ds = ray.data.range(IMAGES, override_num_blocks=400).map_batches(decode)
means = [float(b["image"].mean()) for b in ds.iter_batches(batch_size=None)]
print(f"batches={len(means)}")
