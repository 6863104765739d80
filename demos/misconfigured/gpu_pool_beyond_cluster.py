"""Plants `gpu-oversubscribed` the autoscaling way: a pool whose `max_size` needs more GPUs than
the machine has, in a short job that ends in `count()`.

    range(2.4k) -> map_batches(Captioner, num_gpus=1,
                               compute=ActorPoolStrategy(min_size=1, max_size=4)) -> count()

Runs on any machine: `ray.init(num_gpus=1)` declares one logical GPU. (The "model" sleeps.)
What is wrong: the pool is allowed 4 actors of one GPU each, but there is one GPU. Ray Data's
autoscaler never even asks for the actors it cannot place, so nothing is pending: the one actor
works through a growing queue and the pool never grows. The setting promises a throughput the
machine cannot give.
The fix: `max_size` = GPUs / num_gpus (`ActorPoolStrategy(min_size=1, max_size=1)` here), or a
fractional `num_gpus=0.25` if four copies of the model fit on the card.
"""

import os
import time

import ray

ROWS = 2_400


class Captioner:
    def __call__(self, batch):
        time.sleep(0.4)  # stands in for the GPU forward pass
        batch["caption_len"] = batch["id"] % 17
        return batch


own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
ray.init(**({"num_cpus": 2, "num_gpus": 1} if own_cluster else {}))
ds = ray.data.range(ROWS, override_num_blocks=48).map_batches(
    Captioner, batch_size=50, num_gpus=1,
    compute=ray.data.ActorPoolStrategy(min_size=1, max_size=4))  # WRONG: 4 GPUs wanted, 1 here
print(f"count={ds.count()}")
