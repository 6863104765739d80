"""A Ray cluster to attach to: a driver process with its own local Ray (never `ray start`, which
would make every `ray.init()` on the machine join it) running small pipelines until stopped."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.common import child_env

_DRIVER = r"""
import select, sys, time
import ray
ray.init(num_cpus=2, object_store_memory=200 * 1024 * 1024, log_to_driver=False)
print(ray.get_runtime_context().gcs_address, flush=True)

def work(batch):
    time.sleep(0.02)
    return batch

while not select.select([sys.stdin], [], [], 0.5)[0]:
    ray.data.range(4000, override_num_blocks=40).map_batches(work).materialize()
ray.shutdown()
"""


class Cluster:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.address: str | None = None

    def __enter__(self) -> Cluster:
        self.proc = subprocess.Popen([sys.executable, "-c", _DRIVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=child_env())
        line = self.proc.stdout.readline().strip()
        if ":" not in line:
            self.__exit__()
            raise RuntimeError("the benchmark's Ray driver did not start")
        self.address = line
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001
            self.proc.kill()
            self.proc.wait()
        self.proc = None
