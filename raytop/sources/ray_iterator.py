"""The consumer's loop (``iter_batches``, ``iter_torch_batches``, ``iter_rows``): the part of the
Ray adapter (``ray_adapter``) that reads Ray Data's private iterator figures. Same contract:
getattr with defaults, never raises, no network.

Ray Data keeps the iterator's figures (``iter_total_blocked_s``, ``iter_user_s``, ... on a
``DatasetStats``) only in the iterator: the executor does not hold them (its ``get_stats()``
builds a new object on every call) and the Dataset keeps them in its private execution cache,
which nothing in the executor points back to. The iterator hands them to
``_StatsManager.update_iteration_metrics`` after its first batch, every 5 s and at the end
(that is how they reach the stats actor and the ``ray_data_iter_*`` series). A thin wrapper
there remembers the object per dataset id (weakly) and calls straight through; the probe then
reads the live timers on each step.
"""

from __future__ import annotations

import weakref
from typing import Any

from raytop.model import ConsumerStats
from raytop.sources.ray_adapter import _float, _int, _safe

_ITER_STATS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_ITER_STATS_STRONG: dict[str, Any] = {}  # for objects that take no weak reference
_WRAPPED_MARK = "_raytop_remembers_iterations"


def _remember_iteration(stats: Any, dataset_tag: Any) -> None:
    try:
        key = str(dataset_tag)
        try:
            _ITER_STATS[key] = stats
        except TypeError:
            _ITER_STATS_STRONG[key] = stats
    except Exception:  # noqa: BLE001 - runs in the consumer's loop: must never break it
        pass


def watch_iterations() -> bool:
    """Install the wrapper once per process; False when Ray's hook is not there."""
    try:
        from ray.data._internal import stats as ray_stats

        manager = getattr(ray_stats, "_StatsManager", None)
        original = getattr(manager, "update_iteration_metrics", None)
        if manager is None or original is None:
            return False
        if getattr(original, _WRAPPED_MARK, False):
            return True

        def update_iteration_metrics(stats, dataset_tag, *args, **kwargs):
            _remember_iteration(stats, dataset_tag)
            return original(stats, dataset_tag, *args, **kwargs)

        setattr(update_iteration_metrics, _WRAPPED_MARK, True)
        manager.update_iteration_metrics = staticmethod(update_iteration_metrics)
        return True
    except Exception:  # noqa: BLE001 - Ray's internals vary by version: no consumer figures
        return False


def _timer(stats: Any, name: str) -> float | None:
    return _float(_safe(lambda: getattr(stats, name).get()))


def read_consumer(dataset_id: str) -> ConsumerStats | None:
    """The consumer's figures for ``dataset_id``, None when nothing iterates it (count(),
    write, ...) or its iterator has not reported yet."""
    stats = _ITER_STATS.get(dataset_id) or _ITER_STATS_STRONG.get(dataset_id)
    if stats is None:
        return None
    return ConsumerStats(
        blocked_s=_timer(stats, "iter_total_blocked_s"),
        user_s=_timer(stats, "iter_user_s"),
        first_batch_s=_timer(stats, "iter_time_to_first_batch_s"),
        total_s=_timer(stats, "iter_total_s"),
        batches=_int(getattr(stats, "iter_batches_total", None)),
        rows=_int(getattr(stats, "iter_rows_total", None)),
    )
