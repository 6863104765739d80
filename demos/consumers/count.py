"""Consumer: `count()`, in a short job. Plants `actor-pool-undersized`.

    from_items(5k dicts) -> map_batches(Tagger, compute=ActorPoolStrategy(size=1)) -> count()

What is wrong: a fixed pool of one tagging actor does all the work while the read holds the
other CPU, refilling a queue the actor cannot drain. `count()` adds `Project` and
`AggregateNumRows` after the model: blocks wait in front of them too, but they only wait for the
model. The job takes a few tens of seconds.
The fix: `compute=ActorPoolStrategy(min_size=1, max_size=2)`: the second CPU then serves a second
actor instead of reads that are already far ahead.
"""

import os
import time

import numpy as np
import ray

ROWS = 5_000


class Tagger:
    def __init__(self):
        self.table = np.random.default_rng(2).standard_normal((512, 256)).astype(np.float32)

    def __call__(self, batch):
        x = np.ones((32, 512), np.float32)
        start = time.perf_counter()
        while time.perf_counter() - start < 0.3:
            x = np.tanh(x @ self.table) @ self.table.T
        batch["tag"] = [f"t{len(s) % 5}" for s in batch["text"]]
        return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
items = [{"text": "x" * (i % 40), "n": i} for i in range(ROWS)]
ds = ray.data.from_items(items, override_num_blocks=50).map_batches(
    Tagger, batch_size=100, compute=ray.data.ActorPoolStrategy(size=1))  # WRONG: fixed at 1
print(f"count={ds.count()}")
