"""A pipeline that stalls for good, for tests/core/test_stall_e2e.py (which ends it): its actor
pool asks for a GPU on a cluster that has none, so the one actor is never placed and nothing
comes out after the read.

    ReadRange -> MapBatches(Model) (1 actor, num_gpus=1) -> count()
"""

import ray


class Model:
    def __call__(self, batch):
        return batch


ray.init(num_cpus=2, num_gpus=0, include_dashboard=False)
ds = ray.data.range(1000, override_num_blocks=4).map_batches(
    Model, batch_size=100, num_gpus=1, compute=ray.data.ActorPoolStrategy(size=1))
print(f"count={ds.count()}")
