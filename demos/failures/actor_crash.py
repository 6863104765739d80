"""Plants `actor-restarts`: a model actor whose process keeps dying.

    range(3k) -> map_batches(Segmenter, concurrency=1) -> write_parquet(tmp)

What is wrong: the "native library" inside `Segmenter` leaks and crashes the actor's process
on every 4th call it serves (here: `os._exit`). Ray restarts the actor and retries its task, so
the job finishes, slowly, and nothing in the output says why.
The fix: find the crash in the actor's worker log and fix or guard it.
"""

import os
import shutil
import tempfile
import time

import ray

ROWS = 3_000


class Segmenter:
    def __init__(self):
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        time.sleep(0.1)
        if self.calls == 4:  # WRONG: a crash in native code, every 4th call of an actor's life
            os._exit(1)
        return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))
out = tempfile.mkdtemp(prefix="raytop-demo-crash-")
try:
    (ray.data.range(ROWS, override_num_blocks=30)
     .map_batches(Segmenter, batch_size=100, concurrency=1)
     .write_parquet(out))
    print(f"files={len(os.listdir(out))}")
finally:
    shutil.rmtree(out, ignore_errors=True)
