"""Plants Ray's out-of-memory killer (`heap-pressure`, critical): a map task that needs far more
memory than the node has left, on a cluster this script starts with a low kill threshold.

    range(400) -> map_batches(expand) -> write_parquet(tmp)

What is wrong: `expand` builds a 6 GiB intermediate per batch and two such tasks run at once.
To plant this without exhausting the machine, the script starts its own cluster with Ray's
memory monitor set to kill at what is used now plus 4 GiB (`memory_usage_threshold`), and no
retries for killed tasks (`task_oom_retries=0`): the first task to allocate is killed, Ray Data
gives up and the script exits with 1. (With Ray's defaults the threshold is 95 % of the node and
killed tasks are retried, so a real job first crawls, then fails.)
The fix: `memory=` on `expand` (Ray then runs only as many as fit), a smaller `batch_size`, or a
lower concurrency.
"""

import shutil
import tempfile
import time

import numpy as np
import psutil
import ray

GIB = 1024 ** 3

vm = psutil.virtual_memory()
used = (vm.total - vm.available) / vm.total
# Ray and raytop take 1.5-2 GiB as they start: the monitor kills once 4 GiB more than now are in use
threshold = min(0.95, used + 4.0 * GIB / vm.total)


def expand(batch):
    scratch = np.ones(int(6 * GIB) // 8)  # WRONG: 6 GiB per task, two tasks at once
    time.sleep(2.0)  # the memory monitor looks every 100 ms
    batch["norm"] = batch["id"] * float(scratch[0])
    return batch


ray.init(num_cpus=2, _system_config={"memory_usage_threshold": threshold,
                                     "memory_monitor_refresh_ms": 100, "task_oom_retries": 0})
out = tempfile.mkdtemp(prefix="raytop-demo-oom-")
try:
    ray.data.range(400, override_num_blocks=8).map_batches(expand, batch_size=50).write_parquet(out)
finally:
    shutil.rmtree(out, ignore_errors=True)
