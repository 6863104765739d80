"""Pipelines that are graphs, with operators that share a name (issue 19). One branch is slow on
purpose, so the bottleneck is on it, not on the zip/join/union that reads it.

    python demos/graph_pipelines.py [zip|join|union|actors] [--quick]
    raytop run --headless demos/graph_pipelines.py join

zip    the issue's pipeline: two ``range -> map_batches(lambda)`` branches zipped, then
       ``map_batches(slow)``, unioned with a third ``range -> map_batches(lambda)``, ``count()``;
       the second branch's lambda sleeps: three operators named
       ``ReadRange->MapBatches(<lambda>)`` with 30,000, 30,000 and 5,000 rows.
join   two ``range -> map_batches(lambda)`` branches joined on ``id``, ``count()``; the right
       branch sleeps. Needs ``polars`` (Ray's join does).
union  three ``range -> map_batches(lambda)`` branches unioned, consumed with ``iter_batches``;
       the third branch sleeps.
actors two branches running the same callable class on actor pools, unioned, consumed with
       ``iter_batches``; the second branch's pool is slower (two operators ``MapBatches(Tag)``).

``--quick`` shrinks the sleeps for tests.
"""

import os
import sys
import time

import ray

QUICK = "--quick" in sys.argv
SLOW_S = 0.05 if QUICK else 1.0  # per block on the slow branch
ROWS = 6_000 if QUICK else 30_000
BLOCKS = 12 if QUICK else 30


def _slow(batch):
    time.sleep(SLOW_S)
    return batch


def slow(batch):
    """After the zip: a little work per block, less than the slow branch does."""
    time.sleep(SLOW_S / 5)
    return batch


def zip_union() -> int:
    a = ray.data.range(ROWS, override_num_blocks=BLOCKS).map_batches(
        lambda b: {"id": b["id"], "v": b["id"] * 2})
    b = ray.data.range(ROWS, override_num_blocks=BLOCKS).map_batches(
        lambda b: _slow({"id": b["id"], "w": b["id"] + 1}))
    c = ray.data.range(ROWS // 6).map_batches(
        lambda b: {"id": b["id"], "v": b["id"], "id_1": b["id"], "w": b["id"]})
    return a.zip(b).map_batches(slow).union(c).count()


def join() -> int:
    left = ray.data.range(ROWS, override_num_blocks=BLOCKS).map_batches(
        lambda b: {"id": b["id"], "v": b["id"] * 2})
    right = ray.data.range(ROWS, override_num_blocks=BLOCKS).map_batches(
        lambda b: _slow({"id": b["id"], "w": b["id"] + 1}))
    return left.join(right, join_type="inner", num_partitions=2, on=("id",)).count()


def union() -> int:
    branches = [ray.data.range(ROWS // 3, override_num_blocks=BLOCKS).map_batches(
        lambda b: {"id": b["id"]}) for _ in range(2)]
    branches.append(ray.data.range(ROWS // 3, override_num_blocks=BLOCKS).map_batches(
        lambda b: _slow({"id": b["id"]})))
    ds = branches[0].union(*branches[1:])
    return sum(len(batch["id"]) for batch in ds.iter_batches(batch_size=None))


class Tag:
    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def __call__(self, batch):
        time.sleep(self.delay)
        return batch


def actors() -> int:
    pool = ray.data.ActorPoolStrategy(size=1)
    fast = ray.data.range(ROWS // 2, override_num_blocks=BLOCKS // 2).map_batches(
        Tag, compute=pool, num_cpus=0.25, fn_constructor_args=(0.0,))
    slow_ = ray.data.range(ROWS // 2, override_num_blocks=BLOCKS // 2).map_batches(
        Tag, compute=pool, num_cpus=0.25, fn_constructor_args=(SLOW_S,))
    ds = fast.union(slow_)
    return sum(len(batch["id"]) for batch in ds.iter_batches(batch_size=None))


PIPELINES = {"zip": zip_union, "join": join, "union": union, "actors": actors}

if __name__ == "__main__":
    which = next((a for a in sys.argv[1:] if not a.startswith("--")), "zip")
    # An existing cluster (RAY_ADDRESS) brings its own resources; otherwise a small local one.
    own_cluster = os.environ.get("RAY_ADDRESS", "local") == "local"
    ray.init(**({"num_cpus": 2} if own_cluster else {}))
    print(f"{which}: rows={PIPELINES[which]()}")
