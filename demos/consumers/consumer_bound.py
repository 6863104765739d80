"""Plants `consumer-bound`: the driver's own loop over `iter_batches()` is the slow part.

    range(4k) -> map_batches(prepare) -> for batch in iter_batches(): <0.4 s of work per batch>

What is wrong: each batch gets 0.4 s of numpy work in the driver's loop, one batch at a time,
while the pipeline (one cheap map) is far ahead: its output waits for the loop. No pipeline
setting helps; the work belongs inside the pipeline.
The fix: move the loop's work into `map_batches` (it then runs in parallel on the cluster) and
iterate the results; or make the loop's work cheaper.
"""

import os
import time

# One BLAS thread: the loop is one slow consumer on any machine (on 32 cores numpy's default of a
# thread per core starved the 2-CPU pipeline too, and then nothing waited for the loop).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import ray  # noqa: E402

ROWS = 4_000


def prepare(batch):
    batch["x"] = (batch["id"] % 255).astype(np.float32)
    return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
ds = ray.data.range(ROWS, override_num_blocks=40).map_batches(prepare)
w = np.random.default_rng(8).standard_normal((400, 400)).astype(np.float32)
seen = 0
for batch in ds.iter_batches(batch_size=100):
    x = np.repeat(batch["x"][:, None], 400, axis=1) / 255
    start = time.perf_counter()
    while time.perf_counter() - start < 0.4:  # WRONG: heavy per-batch work in the driver
        x = np.tanh(x @ w)
    seen += len(batch["id"])
print(f"rows={seen}")
