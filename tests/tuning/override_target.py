"""A small pipeline for `raytop run --set` tests: a read, a function and a class UDF."""

import os

import ray

own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2} if own_cluster else {}))


def double(batch):
    batch["id"] = batch["id"] * 2
    return batch


class Tag:
    def __call__(self, batch):
        batch["tag"] = batch["id"] % 7
        return batch


ds = (ray.data.range(2000, override_num_blocks=4)
      .map_batches(double, batch_size=100)
      .map_batches(Tag, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=0.5))
print("rows", ds.count())
