"""A Ray Data pipeline spread over the test cluster's nodes by custom resources.

``StageA`` actors need resource ``w1`` (only the first worker node has it), ``StageB`` needs ``w2``;
read tasks run wherever a CPU is free. Each actor holds ~40 MB of private memory so its node's heap
clearly includes it, and touches MARKER once it processes batches. Runs until killed (or ~2 min).

usage: python spread_pipeline.py ADDRESS MARKER
"""

import sys
import time

import numpy as np
import ray
from ray.data import ActorPoolStrategy


class _Holder:
    def __init__(self, marker: str):
        self.buf = np.ones(40 * 1024 * 1024 // 8)  # written, so resident and private
        self.marker = marker

    def __call__(self, batch):
        open(self.marker, "a").close()
        time.sleep(0.5)
        return batch


class StageA(_Holder):
    pass


class StageB(_Holder):
    pass


def main() -> None:
    address, marker = sys.argv[1], sys.argv[2]
    ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    ds = ray.data.range(480, override_num_blocks=240)
    ds = ds.map_batches(StageA, fn_constructor_args=(marker,), batch_size=2,
                        compute=ActorPoolStrategy(size=1), num_cpus=0.5, resources={"w1": 1})
    ds = ds.map_batches(StageB, fn_constructor_args=(marker,), batch_size=2,
                        compute=ActorPoolStrategy(size=1), num_cpus=0.5, resources={"w2": 1})
    for _ in ds.iter_batches(batch_size=None):
        pass


if __name__ == "__main__":
    main()
