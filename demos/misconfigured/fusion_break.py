"""Plants `fusion-break`: two CPU maps that differ only in `num_cpus`.

    range -> map_batches(decode) -> map_batches(normalize, num_cpus=0.5) -> consume

What is wrong: `normalize` asks for `num_cpus=0.5` while `decode` takes Ray's default of 1 CPU.
Ray 2.60 only fuses adjacent maps whose `ray_remote_args` match, so the two run as separate
operators and every block makes an extra trip through the object store between them.
The fix: give both the same `num_cpus` (drop `num_cpus=0.5`, or set it on `decode` too).
"""

import os

import numpy as np
import ray

ROWS = 20_000


def decode(batch):
    rng = np.random.default_rng(int(batch["id"][0]))
    batch["pixels"] = rng.random((len(batch["id"]), 256), dtype=np.float32)
    return batch


def normalize(batch):
    x = batch.pop("pixels")
    batch["features"] = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)
    return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = (ray.data.range(ROWS, override_num_blocks=20)
      .map_batches(decode)
      .map_batches(normalize, num_cpus=0.5))  # WRONG: differs from decode's default num_cpus=1
rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
print(f"rows={rows}")
