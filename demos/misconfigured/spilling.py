"""Plants `spilling`: a large intermediate materialized into an object store too small for it.

    range -> map_batches(decode) -> materialize()      (~600 MiB of decoded images)
          -> map_batches(augment) -> consume

What is wrong: the decoded dataset is cached with `materialize()` "so the next stage is faster",
but it is three times the size of the object store (`object_store_memory=200 MiB`). Ray has to
spill it to disk and read it back, which is slower than decoding again.
The fix: stream instead of materializing (drop `.materialize()`), or give the store room for it,
`ray.init(object_store_memory=...)` well above the dataset size.
"""

import os

import numpy as np
import ray

IMAGES = 2_400
SIDE = 256  # 2,400 x 256 x 256 x 4 bytes = 600 MiB


def decode(batch):
    rng = np.random.default_rng(int(batch["id"][0]))
    batch["image"] = rng.random((len(batch["id"]), SIDE, SIDE), dtype=np.float32)
    return batch


def augment(batch):
    batch["brightness"] = batch.pop("image").mean(axis=(1, 2))
    return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2, "object_store_memory": 200 * 1024**2} if own_cluster else {}))
decoded = (ray.data.range(IMAGES, override_num_blocks=60)
           .map_batches(decode)
           .materialize())  # WRONG: 600 MiB pinned in a 200 MiB store
rows = sum(len(b["id"]) for b in decoded.map_batches(augment).iter_batches(batch_size=None))
print(f"rows={rows}")
