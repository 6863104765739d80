"""A small real pipeline of known shape for end-to-end tests of `raytop run`.

    ReadRange -> MapBatches(double) (fused, tasks) -> MapBatches(Scale) (actor pool) -> count

argv: ROWS [EXIT_CODE] [--fail]   (--fail raises inside the actor UDF)
"""

import sys
import time

import numpy as np
import ray

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
EXIT = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].lstrip("-").isdigit() else 0
FAIL = "--fail" in sys.argv


def double(batch):
    time.sleep(0.05)
    batch["x"] = batch["id"] * 2
    return batch


class Scale:
    def __init__(self):
        self.payload = np.ones(20_000_000, dtype=np.uint8)  # 20 MB of heap, attributable

    def __call__(self, batch):
        if FAIL:
            raise ValueError("planted failure in Scale")
        time.sleep(0.05)
        batch["y"] = batch["x"] + int(self.payload[0])
        return batch


ray.init(num_cpus=2)
ds = (ray.data.range(ROWS, override_num_blocks=40)
      .map_batches(double)
      .map_batches(Scale, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=0.5))
total = 0
for batch in ds.iter_batches(batch_size=None):
    total += len(batch["y"])
print(f"rows={total}")
sys.exit(EXIT)
