"""Plants `input-starved`: the model actor waits for input while it holds the CPU decoding needs.

    range -> map_batches(decode) -> map_batches(Classifier, batch_size=100, num_gpus=1, num_cpus=1,
                                                compute=ActorPoolStrategy(size=1)) -> consume

Runs on any machine: `ray.init(num_gpus=1)` declares one logical GPU for Ray's scheduler (the
"model" computes on the CPU and is cheap, as GPU inference is next to CPU decoding).
What is wrong: the GPU actor also reserves a whole CPU (`num_cpus=1`) that it barely uses. On this
2-CPU node only one `decode` task can run next to it, so the expensive decoding crawls and the
classifier sits idle with an empty input queue.
The fix: reserve no CPU for the GPU actor, `num_cpus=0`, so decoding gets both CPUs (0.25 would
leave 1.75: still room for one 1-CPU decode task only).
"""

import os
import time

import numpy as np
import ray

ROWS = 1_600
DECODE_CPU_S = 0.8  # CPU seconds per block of 100 images


def decode(batch):
    n = len(batch["id"])
    rng = np.random.default_rng(int(batch["id"][0]))
    img = rng.random((n, 96, 96), dtype=np.float32)
    start = time.process_time()
    while time.process_time() - start < DECODE_CPU_S:  # expensive decoding / augmentation
        img = np.sqrt(img * img + 0.5) - 0.5
    batch["pixels"] = img.reshape(n, -1)[:, :512]
    return batch


class Classifier:
    def __init__(self):
        self.w = np.random.default_rng(0).standard_normal((512, 10), dtype=np.float32)

    def __call__(self, batch):
        batch["label"] = (batch.pop("pixels") @ self.w).argmax(axis=1)
        return batch


# An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2, "num_gpus": 1} if own_cluster else {}))
ds = (ray.data.range(ROWS, override_num_blocks=16)
      .map_batches(decode)
      .map_batches(Classifier, batch_size=100, num_gpus=1,
                   num_cpus=1,  # WRONG: the GPU actor holds a CPU that decode needs
                   compute=ray.data.ActorPoolStrategy(size=1)))
rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
print(f"rows={rows}")
