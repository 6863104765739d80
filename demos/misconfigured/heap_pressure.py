"""Plants `heap-pressure`: workers use more memory than their `memory=` request says.

    range -> map_batches(embed, batch_size=200, memory=256 MiB) -> consume

What is wrong: `memory=` tells Ray's scheduler how much heap each task needs, so it can avoid
packing more of them onto a node than its RAM holds. Here it says 256 MiB while every `embed` task
really holds ~400 MiB (its batch expanded into a float64 matrix). On a node full of such tasks
Ray schedules too many and its OOM killer ends up killing workers.
The fix: request what a task really uses, `memory=500 * 1024**2`, or a smaller `batch_size`.
(Planted at ~400 MiB per worker, two workers: harmless for the machine it runs on.)
"""

import os
import time

import numpy as np
import ray

ROWS = 4_000
WIDTH = 256 * 1024  # float64 columns per row: 200 rows -> 400 MiB


def embed(batch):
    n = len(batch["id"])
    x = np.empty((n, WIDTH))
    x[:] = (batch["id"] % 13)[:, None]  # touch every page: real heap, not just reserved
    time.sleep(0.8)  # the "model" works on the expanded batch
    batch["norm"] = np.sqrt((x[:, :1024] ** 2).sum(axis=1))
    return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = ray.data.range(ROWS, override_num_blocks=20).map_batches(
    embed, batch_size=200, memory=256 * 1024**2)  # WRONG: each task really needs ~400 MiB
rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
print(f"rows={rows}")
