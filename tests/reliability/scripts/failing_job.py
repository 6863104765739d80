"""A Ray Data job whose UDF fails after a few seconds, with a secret in its argv and its error.

argv: --api-token TOKEN [other args]. The UDF's exception message carries TOKEN, as a careless
user's error might; raytop must record the failure without it.
"""

import sys
import time

import ray

TOKEN = sys.argv[sys.argv.index("--api-token") + 1]


def slow(batch):
    time.sleep(0.25)
    return batch


def fail_late(batch):
    if batch["id"][0] >= 2400:
        raise ValueError(f"planted failure (auth {TOKEN})")
    return batch


ray.init(num_cpus=2, include_dashboard=False)
ds = ray.data.range(3000, override_num_blocks=30).map_batches(slow).map_batches(fail_late)
rows = 0
for batch in ds.iter_batches(batch_size=None):
    rows += len(batch["id"])
print(f"rows={rows}")
