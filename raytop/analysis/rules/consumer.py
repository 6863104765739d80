"""consumer-bound: the driver's own loop over ``iter_batches()`` is the slow part.

Ray Data's iterator counts how long the consumer's thread waits in ``next()`` for the pipeline
(``ConsumerStats.blocked_s``) and how long it spends in its own code between batches
(``user_s``). When its own code takes ``CONSUMER_USER_SHARE`` of that time over the window and
blocks wait at the pipeline's output (``CONSUMER_HELD_BLOCKS``, in ``HOLD_FRACTION`` of the
samples, or the last operator held back by the blocks it prefetched), no pipeline setting helps:
the work in the loop has to move into the pipeline (``map_batches``, where it runs in parallel) or
get faster. The opposite, a loop that mostly waits, is the pipeline's bottleneck, which the other
rules name (``analysis.consumer.consumer_summary`` says so in words).
"""

from __future__ import annotations

from ...format import fmt_plain, fmt_share
from ...model import DatasetStats, Suggestion, op_key
from .. import thresholds as th
from ..consumer import consumer_bound
from ..window import Window, held_share
from .common import suggest


def output_held(win: Window, ds_id: str, d: DatasetStats) -> bool:
    """The pipeline's output waits for the consumer: blocks produced and not taken, or the last
    operator held back (the blocks the iterator prefetched use up Ray Data's budget)."""
    sinks = set(win.sinks(ds_id, d))
    return any((o.output_queue_blocks or 0) >= th.CONSUMER_HELD_BLOCKS or o.backpressure
               for o in d.operators if op_key(o) in sinks)


def _consumer_bound_one(win: Window, ds_id: str, samples) -> Suggestion | None:
    span = consumer_bound(samples)
    if span is None:
        return None
    share = held_share([output_held(win, ds_id, d) for _, d in samples])
    if share is None:
        return None
    per_batch = (f", {fmt_plain(round(span.user_s / span.batches, 2))} s of it per batch"
                 if span.batches else "")
    evidence = (f"the loop over the dataset spent {fmt_share(span.user_share)} of its time in its own "
                f"code ({fmt_plain(round(span.user_s, 1))} s{per_batch}) and "
                f"{fmt_plain(round(span.blocked_s, 1))} s waiting for the pipeline {win.describe()}, "
                f"while blocks waited at the pipeline's output in {round(share * len(samples))}/"
                f"{len(samples)} samples: the pipeline is ahead, the consumer is the slow part")
    fix = ("move the per-batch work of the loop into the pipeline, ds = ds.map_batches(<that work>, "
           "...), so it runs in parallel on the cluster, then iterate the results; or make the "
           "loop's own code faster. No pipeline setting helps while the loop is the slow part")
    return suggest("consumer-bound", "warning", "The consumer's own loop is the slow part",
                   evidence, fix, operator=None, op_id=None, dataset_id=ds_id, window=win,
                   share=share, figures={"user_share": span.user_share, "user_s": span.user_s,
                                         "blocked_s": span.blocked_s, "batches": span.batches})


def check_consumer_bound(win: Window) -> list[Suggestion]:
    out = []
    for ds_id, samples in win.judged():
        found = _consumer_bound_one(win, ds_id, samples)
        if found is not None:
            out.append(found)
    return out
