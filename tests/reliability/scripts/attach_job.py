"""A job on an existing cluster, for the attach tests. argv: ADDRESS.

Prints what it computed and what it sees of its own DataContext and named actors, so a run with
raytop attached can be compared with a run without it.
"""

import json
import sys
import time

import ray
from ray.data import DataContext

ray.init(address=sys.argv[1], log_to_driver=False)
print("ready", flush=True)


def slow_triple(batch):
    time.sleep(0.3)
    batch["y"] = batch["id"] * 3
    return batch


ds = ray.data.range(2000, override_num_blocks=24).map_batches(slow_triple)
total = sum(int(b["y"].sum()) for b in ds.iter_batches(batch_size=None))
ctx = DataContext.get_current()
scalars = {k: v for k, v in sorted(vars(ctx).items())
           if isinstance(v, (int, float, str, bool, type(None)))}
print(f"result={total}")
print("context=" + json.dumps(scalars, sort_keys=True, default=str))
print("callbacks=" + repr(list(ctx.custom_execution_callback_classes)))
print("actors=" + repr(sorted(ray.util.list_named_actors())))
