"""Plants `stateless-model`: a GPU model written as a plain function, so it runs as Ray tasks.

    range -> map_batches(predict, batch_size=100, num_gpus=1) -> consume

Runs on any machine: `ray.init(num_gpus=1)` declares one logical GPU for Ray's scheduler.
What is wrong: `predict` builds the model on every call. As a function UDF it runs as Ray tasks,
each of which loads the weights onto the GPU, runs one batch and frees them again.
The fix: a callable class that loads the model once in `__init__`, run on an actor pool:
`ds.map_batches(Predictor, batch_size=100, num_gpus=1, compute=ActorPoolStrategy(size=1))`.
"""

import os

import numpy as np
import ray

ROWS = 1_000


def load_model():
    rng = np.random.default_rng(0)
    return [rng.standard_normal((512, 512), dtype=np.float32) for _ in range(8)]


def predict(batch):
    layers = load_model()  # WRONG: the model is rebuilt for every batch
    x = np.repeat((batch["id"] % 97).astype(np.float32)[:, None] / 97.0, 512, axis=1)
    for w in layers:
        x = np.tanh(x @ w)
    batch["score"] = x[:, 0]
    return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2, "num_gpus": 1} if own_cluster else {}))
ds = ray.data.range(ROWS, override_num_blocks=10).map_batches(predict, batch_size=100, num_gpus=1)
rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
print(f"rows={rows}")
