"""Plants a failure: a UDF that raises on a record it does not expect (`dataset-failed`).

    range(4k) -> map_batches(parse) -> map_batches(Labeler, concurrency=1) -> iter_batches()

What is wrong: `Labeler` looks every row's label up in a table that lacks one of them; after
some batches it raises `KeyError`, Ray Data gives up on the dataset and the script exits with 1.
raytop names the failure, the operator it came from, and the error.
The fix: handle the missing label in `Labeler` (or clean the data before it).
"""

import os
import time

import numpy as np
import ray

ROWS = 4_000


def parse(batch):
    batch["label_id"] = batch["id"] // 40
    return batch


class Labeler:
    def __init__(self):
        self.names = {i: f"class-{i}" for i in range(100) if i != 60}  # WRONG: 60 is missing

    def __call__(self, batch):
        time.sleep(0.1)
        batch["label"] = np.array([self.names[int(i)] for i in batch["label_id"]])
        return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = (ray.data.range(ROWS, override_num_blocks=40)
      .map_batches(parse)
      .map_batches(Labeler, batch_size=50, concurrency=1))
# Rows 2400..2439 carry label 60: the job fails some seconds in.
for _ in ds.iter_batches(batch_size=100):
    pass
