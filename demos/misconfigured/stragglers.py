"""Plants `stragglers`: one block of a skewed dataset takes 50x longer than the rest.

    range(3_000, override_num_blocks=30) -> map_batches(score) -> consume

What is wrong: the rows are not spread evenly by cost. Block 4 holds the "hot" customers whose
rows each take far longer to score, so its task runs ~15 s while the other 29 take ~0.3 s: the
pipeline waits on one task while the other CPU has nothing left to do. raytop names the task,
the node and the worker pid it runs on.
The fix: spread the expensive rows over more, smaller blocks (`ds.repartition(N)` before the
slow map, or a key-aware split), or a smaller `target_max_block_size`; if it is always the same
node, look at that node.
"""

import os
import time

import ray

ROWS = 3_000
BLOCKS = 30
HOT_BLOCK = 4  # WRONG: every expensive row ended up in one block


def score(batch):
    hot = int(batch["id"][0]) == HOT_BLOCK * ROWS // BLOCKS
    time.sleep(15.0 if hot else 0.3)  # stands in for the per-row work of 100 rows
    batch["score"] = batch["id"] % 7
    return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = ray.data.range(ROWS, override_num_blocks=BLOCKS).map_batches(score)
rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
print(f"rows={rows}")
