"""Plants `small-blocks`: a dataset split into far more blocks than it has data for.

    range(20_000, override_num_blocks=600) -> map_batches(tokenize) -> consume

What is wrong: 600 blocks of 33 rows (a few KiB each). Every block is its own Ray task, so
scheduling and serialization (milliseconds per task) cost more than the work itself.
The fix: far fewer blocks, e.g. `override_num_blocks=4` here (aim at tens of MiB per block,
at least two per CPU), or let Ray pick by leaving `override_num_blocks` unset.
"""

import os

import ray

ROWS = 20_000
BLOCKS = 600  # WRONG: ~33 rows per block


def tokenize(batch):
    batch["tokens"] = (batch["id"] * 2654435761) % 50_000
    return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = ray.data.range(ROWS, override_num_blocks=BLOCKS).map_batches(tokenize)
rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
print(f"rows={rows}")
