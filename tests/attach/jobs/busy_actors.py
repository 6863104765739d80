"""A Ray Data job whose model actors stay busy until the test says stop (argv: READY STOP)."""

import os
import sys
import time
from pathlib import Path

import numpy as np
import ray

ready, stop = Path(sys.argv[1]), sys.argv[2]


class SlowModel:
    def __call__(self, batch):
        end = time.process_time() + 0.2
        x = np.ones(1000)
        while time.process_time() < end:  # on the CPU, so py-spy sees it working
            x = np.sqrt(x * x + 1.0)
        ready.write_text("busy")
        return batch


ray.init(log_to_driver=False)
while not os.path.exists(stop):
    ray.data.range(400, override_num_blocks=40).map_batches(
        SlowModel, batch_size=10, compute=ray.data.ActorPoolStrategy(size=1)).materialize()
