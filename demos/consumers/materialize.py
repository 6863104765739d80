"""Consumer: `materialize()`. Plants `actor-pool-undersized`.

    from_pandas(6 frames) -> map_batches(Ranker, batch_format="pandas",
                                         compute=ActorPoolStrategy(size=1)) -> materialize()

What is wrong: the ranking model's pool is fixed at one actor while the other CPU only reads.
The fix: `compute=ActorPoolStrategy(min_size=1, max_size=2)`.
"""

import os
import time

import numpy as np
import pandas as pd
import ray

ROWS = 4_800


class Ranker:
    def __init__(self):
        self.w = np.random.default_rng(5).standard_normal((300, 300)).astype(np.float32)

    def __call__(self, df: pd.DataFrame) -> pd.DataFrame:
        x = np.ones((80, 300), np.float32)
        start = time.perf_counter()
        while time.perf_counter() - start < 0.3:
            x = np.tanh(x @ self.w)
        df["rank"] = df["value"].rank()
        return df


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
frames = [pd.DataFrame({"value": np.arange(i, ROWS, 6, dtype=np.float64)}) for i in range(6)]
ds = ray.data.from_pandas(frames).repartition(48).map_batches(
    Ranker, batch_size=100, batch_format="pandas",
    compute=ray.data.ActorPoolStrategy(size=1))  # WRONG: fixed at 1
mat = ds.materialize()
print(f"blocks={mat.num_blocks()}")
