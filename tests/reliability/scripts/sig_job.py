"""A job for the signal tests. argv: MODE [--ray]

  catch     Ctrl-C raises KeyboardInterrupt in the job, which exits 42 ("interrupted cleanly")
  stubborn  ignores SIGINT and SIGTERM (prints them): only raytop's second signal ends it
  term      exits 43 from its SIGTERM handler
  sleep     does nothing special (killed from outside)

With --ray the job runs a slow Ray Data pipeline on its own local Ray while it waits.
Prints ``ready <pid>`` once its handlers are installed (and Ray Data is running).
"""

import os
import signal
import sys
import time

MODE = sys.argv[1]
USE_RAY = "--ray" in sys.argv


def note(signum, frame):
    print(f"got signal {signum}", flush=True)


if MODE == "stubborn":
    signal.signal(signal.SIGINT, note)
    signal.signal(signal.SIGTERM, note)
elif MODE == "term":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(43))


def work():
    if not USE_RAY:
        print(f"ready {os.getpid()}", flush=True)
        while True:
            time.sleep(0.1)
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)

    def slow(batch):
        time.sleep(0.2)
        return batch

    ds = ray.data.range(100_000, override_num_blocks=2000).map_batches(slow)
    for i, _ in enumerate(ds.iter_batches(batch_size=None)):
        if i == 0:
            print(f"ready {os.getpid()}", flush=True)


try:
    work()
except KeyboardInterrupt:
    if MODE == "catch":
        print("interrupted cleanly", flush=True)
        sys.exit(42)
    raise
