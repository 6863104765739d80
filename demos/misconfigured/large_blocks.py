"""Plants `large-blocks`: the block size cap raised so far that every block is ~256 MiB.

    range(24, override_num_blocks=24) -> map_batches(load_volume) -> consume in the driver

What is wrong: the user raised `DataContext.target_max_block_size` to 1 GiB "to cut per-block
overhead". Each `load_volume` call now returns one 256 MiB block instead of Ray splitting it into
128 MiB pieces: every block occupies the object store and a worker's heap at once, and few blocks
means little parallelism downstream.
The fix: leave `target_max_block_size` at its default (128 MiB) or lower, and read into more,
smaller blocks (more rows per file split / `override_num_blocks`).
"""

import os

import numpy as np
import ray

VOLUMES = 24
VOLUME_BYTES = 256 * 1024**2


def load_volume(batch):
    n = len(batch["id"])
    side = VOLUME_BYTES // 8 // n
    rng = np.random.default_rng(int(batch["id"][0]))
    batch["volume"] = rng.random((n, side))  # float64: VOLUME_BYTES per call
    return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ctx = ray.data.DataContext.get_current()
ctx.target_max_block_size = 1024**3  # WRONG: 8x Ray's default of 128 MiB
ds = ray.data.range(VOLUMES, override_num_blocks=VOLUMES).map_batches(load_volume, batch_size=None)
means = [float(b["volume"].mean()) for b in ds.iter_batches(batch_size=None)]
print(f"volumes={len(means)}")
