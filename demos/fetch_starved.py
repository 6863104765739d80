"""The GPU demo's starved mode on a CPU machine, for `raytop tune`: a model actor waits for its
input because the step that fetches the input is capped at two concurrent tasks.

    range -> map_batches(fetch, num_cpus=0.25, compute=TaskPoolStrategy(size=2))
          -> map_batches(Model, compute=ActorPoolStrategy(size=1)) -> consume

`fetch` stands in for reading images from object storage: it waits on I/O (a sleep), it does not
compute, so a quarter CPU each is right and more of them at once fetch more. The cap of 2 was
copied from a laptop config. raytop names `input-starved` with the fix
`compute=TaskPoolStrategy(size=4)`; the wait is not CPU work, so the gain survives a shared 2-core
machine better than a CPU-bound stage's would (docs/tune.md has the figures).

    python -m raytop tune --headless --warmup 3 demos/fetch_starved.py [--blocks N]
"""

import argparse
import os
import time

import numpy as np
import ray

FETCH_S = 2.0  # seconds one fetch of a block waits on storage (per-task overhead is small next to it)
ROWS_PER_BLOCK = 100


def fetch(batch):
    time.sleep(FETCH_S)
    rng = np.random.default_rng(int(batch["id"][0]))
    batch["pixels"] = rng.random((len(batch["id"]), 256), dtype=np.float32)
    return batch


class Model:
    def __init__(self):
        self.w = np.random.default_rng(0).standard_normal((256, 10), dtype=np.float32)

    def __call__(self, batch):
        batch["label"] = (batch.pop("pixels") @ self.w).argmax(axis=1)
        return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=40)
    args = parser.parse_args()
    own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
    # 8 logical CPUs, as on a small cloud node: fetching waits rather than computes, so the two
    # real cores of a laptop or CI runner carry it; with 2, Ray Data's per-operator CPU budget
    # (not the cap) would hold fetch to one task at a time.
    ray.init(**({"num_cpus": 8} if own_cluster else {}))
    ds = (ray.data.range(args.blocks * ROWS_PER_BLOCK, override_num_blocks=args.blocks)
          .map_batches(fetch, batch_size=None, num_cpus=0.25,
                       compute=ray.data.TaskPoolStrategy(size=2))  # WRONG: a laptop's cap
          .map_batches(Model, batch_size=None, compute=ray.data.ActorPoolStrategy(size=1)))
    rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
    print(f"rows={rows}")


if __name__ == "__main__":
    main()
