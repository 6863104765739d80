"""Plants `gpu-oversubscribed`: an actor pool that asks for more GPUs than the machine has.

    range -> map_batches(Detector, compute=ActorPoolStrategy(size=2), num_gpus=1) -> consume

Runs on any machine: `ray.init(num_gpus=1)` declares one logical GPU, which is all Ray's
scheduler looks at. (The "model" computes on the CPU.)
What is wrong: two actors of one GPU each on a one-GPU machine. The second actor stays pending
for the whole run; the pool never reaches the size it was configured for.
The fix: no more actors than GPUs, `compute=ActorPoolStrategy(size=1)`, or, if the model fits
twice in GPU memory, `num_gpus=0.5` per actor.
"""

import os
import time

import numpy as np
import ray

ROWS = 2_400


class Detector:
    def __init__(self):
        self.w = np.random.default_rng(0).standard_normal((64, 4), dtype=np.float32)

    def __call__(self, batch):
        x = np.repeat((batch["id"] % 255).astype(np.float32)[:, None], 64, axis=1)
        batch["box"] = (x @ self.w).argmax(axis=1)
        time.sleep(0.25)  # stands in for the GPU forward pass
        return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2, "num_gpus": 1} if own_cluster else {}))
ds = ray.data.range(ROWS, override_num_blocks=48).map_batches(
    Detector, batch_size=50, num_gpus=1,
    compute=ray.data.ActorPoolStrategy(size=2))  # WRONG: 2 actors x 1 GPU, 1 GPU in the machine
rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
print(f"rows={rows}")
