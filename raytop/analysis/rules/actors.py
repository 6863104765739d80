"""Actor pools that do not keep up: input-starved (the pool waits for its upstream) and
actor-pool-undersized (the pool is the bottleneck and could grow)."""

from __future__ import annotations

from dataclasses import dataclass

from ...format import fmt_plain
from ...model import DatasetStats, LogicalOp, OperatorStats, Snapshot, Suggestion, op_key
from .. import thresholds as th
from ..bottleneck import is_trivial, window_bottleneck
from ..window import Window, busy_actors, cluster_gpus, free_cpus, held_share, is_source_op
from .common import (
    actor_strategy,
    call,
    first_logical,
    is_read,
    mean,
    model_logical,
    op_num_cpus,
    op_num_gpus,
    suggest,
)


def _op_in(win: Window, d: DatasetStats, key: str | None) -> OperatorStats | None:
    if key is None:
        return None
    first = win.op_of(d, key)
    if first is None or not is_source_op(first):
        return first
    return next((o for o in d.operators if op_key(o) == key and not is_source_op(o)), None)


# ---- input-starved ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Upstream:
    """What the starved pool's upstream is and what it may use."""

    key: str
    label: str
    cpus: float  # CPUs one of its tasks asks for
    size: int | None  # its task pool size, when set
    target: str  # the logical name a fix addresses
    capped_calls: tuple[str, ...] = ()  # its logical calls that set that task pool size


@dataclass(frozen=True)
class _Starved:
    """One sample in which the pool starved."""

    idle: int
    up_running: int | None
    capped: bool  # the upstream was capped or slowed, not just slow
    held_at_cap: bool  # the upstream ran at its task pool cap with input waiting


def _upstream(win: Window, ds_id: str, up_key: str) -> _Upstream:
    logical = win.logical_ops(ds_id, up_key)
    last = logical[-1] if logical else None
    size = (last.max_size or last.min_size) if last is not None else None
    return _Upstream(
        key=up_key, label=win.label(ds_id, up_key), cpus=op_num_cpus(last), size=size,
        target=last.name if last is not None else win.name_of(ds_id, up_key).split("->")[-1],
        capped_calls=_calls_with_pool_size(logical, size))


def _calls_with_pool_size(logical: list[LogicalOp], size: int | None) -> tuple[str, ...]:
    """The fused calls that set the task pool size ``size``. Raising one of them alone would
    split the fusion (task maps fuse only at equal sizes) and leave the others at the cap. A
    read's ``concurrency`` is left as it is: reading is rarely what the pool waits for."""
    if size is None:
        return ()
    return tuple(lo.name for lo in logical if lo.compute == "task" and not is_read(lo.name)
                 and (lo.max_size or lo.min_size) == size)


def _upstream_busy(up: OperatorStats) -> bool:
    return up.state != "FINISHED" and ((up.queued_blocks or 0) > 0 or (up.tasks_running or 0) > 0)


def _starves(op: OperatorStats, up: OperatorStats, upi: _Upstream) -> bool:
    """Nothing queued for the pool while its upstream still has work, and most of its actors
    idle or the upstream held at its task pool cap with input waiting. Ray Data keeps a task in
    flight on an actor while the task waits for its block, so a starved pool can look busy."""
    if op.actors is None or op.actors.running is None:
        return False
    running, idle = op.actors.running, op.actors.idle or 0
    if running < 1 or op.queued_blocks != 0 or not _upstream_busy(up):
        return False
    return idle / running >= th.IDLE_FRACTION or _held_at_cap(up, upi)


def _at_cap(up: OperatorStats, upi: _Upstream) -> bool:
    return ("tasks:ConcurrencyCap" in up.backpressure
            or (upi.size is not None and (up.tasks_running or 0) >= upi.size))


def _held_at_cap(up: OperatorStats, upi: _Upstream) -> bool:
    return _at_cap(up, upi) and (up.queued_blocks or 0) > 0


def _capped(fc: float | None, op: OperatorStats, up: OperatorStats, upi: _Upstream,
            actor_cpus: float) -> bool:
    """The upstream is held below what it could do: at its cap, or its CPUs held by idle
    actors, or CPUs free (``fc``) that it leaves unused while it runs."""
    idle = (op.actors.idle if op.actors is not None else None) or 0
    cpus_held_idle = idle * actor_cpus >= upi.cpus and (fc is None or fc < upi.cpus)
    return _at_cap(up, upi) or cpus_held_idle or _leaves_cpus_free(fc, up, upi)


def _leaves_cpus_free(fc: float | None, up: OperatorStats, upi: _Upstream) -> bool:
    """CPUs for another upstream task are free while the upstream runs a task of its own and
    its outputs are not held back. A reading between two of its tasks (none running, its CPU
    just handed back, the pool idle for want of the block) is a gap, not CPUs it leaves unused:
    without the probe, one reading every ~10 s, two or three such gaps made a pattern. Its own
    CPUs must be known, or the free ones count them."""
    return (fc is not None and fc >= upi.cpus and (up.tasks_running or 0) >= 1
            and up.usage is not None and up.usage.cpu is not None
            and not any(b.startswith("outputs:") for b in up.backpressure))


@dataclass(frozen=True)
class _Reading:
    """One sample of the pool and its upstream."""

    starved: _Starved | None
    free: float | None  # CPUs free, where the upstream had work; else None


@dataclass(frozen=True)
class _Readings:
    flags: list[bool]  # starved or not, per sample
    hits: list[_Starved]
    window_free: float | None  # mean CPUs free over the samples in which the upstream had work


def _starved_in(win: Window, s: Snapshot, d: DatasetStats, key: str, upi: _Upstream,
                actor_cpus: float) -> _Reading | None:
    """One sample of ``_starved_samples``; None without the pool."""
    op, up = _op_in(win, d, key), _op_in(win, d, upi.key)
    if op is None or op.actors is None or up is None or op.actors.running is None:
        return None
    fc = win.summary(s, free_cpus) if _upstream_busy(up) else None
    if not _starves(op, up, upi):
        return _Reading(None, fc)
    return _Reading(_Starved(op.actors.idle or 0, up.tasks_running,
                             _capped(fc, op, up, upi, actor_cpus), _held_at_cap(up, upi)), fc)


def _starved_samples(win: Window, ds_id: str, key: str, upi: _Upstream, actor_cpus: float
                     ) -> _Readings:
    flags, hits, free = [], [], []
    for s, d in win.running(ds_id):
        # kept with the snapshot: it reads nothing but these (of upi: key, cpus, size)
        memo, k = win.cache.memo(s), (_starved_in, id(d), key, upi.key, upi.cpus, upi.size, actor_cpus)
        if k not in memo:
            memo[k] = _starved_in(win, s, d, key, upi, actor_cpus)
        sample = memo[k]
        if sample is None:
            continue
        flags.append(sample.starved is not None)
        if sample.starved is not None:
            hits.append(sample.starved)
        if sample.free is not None:
            free.append(sample.free)
    return _Readings(flags, hits, mean(free))


def _actor_cpus_freeing_one_task(upi: _Upstream, model: LogicalOp | None, actor_cpus: float,
                                 mean_free: float | None) -> float | None:
    """The highest ``num_cpus`` per actor (half, a quarter, none) at which the CPUs the pool's
    actors give back, with those already free, fit one more upstream task: Ray schedules a
    task only where its whole ask fits, so halving 1 CPU next to a 1-CPU task frees nothing
    usable. None (no CPU-lowering fix) when even none would not, or the pool is not starved of
    CPUs. Zero only for a GPU actor: its ``num_gpus`` still places it."""
    if mean_free is None or mean_free >= upi.cpus or actor_cpus < 1 or model is None:
        return None
    actors = model.min_size or 1
    lows = (actor_cpus / 2, actor_cpus / 4) + ((0.0,) if op_num_gpus(model) > 0 else ())
    return next((low for low in lows if mean_free + actors * (actor_cpus - low) >= upi.cpus), None)


def _input_starved_fix(upi: _Upstream, model: LogicalOp | None, actor_cpus: float,
                       mean_free: float | None) -> str:
    if upi.size is not None:
        raised = f"compute=TaskPoolStrategy(size={upi.size * 2})"
        return "\n".join(call(name, raised) + f"  # now size={upi.size}"
                         for name in upi.capped_calls or (upi.target,))
    lower = _actor_cpus_freeing_one_task(upi, model, actor_cpus, mean_free)
    if lower is not None and model is not None:
        return (call(model.name, f"num_cpus={fmt_plain(lower)}")
                + f"  # now {fmt_plain(actor_cpus)}: idle actors hold the CPUs {upi.target} needs")
    if is_read(upi.target):
        return call(upi.target, "override_num_blocks=<more blocks>, concurrency=<more read tasks>")
    if upi.cpus > 0.5:
        return (call(upi.target, f"num_cpus={fmt_plain(upi.cpus / 2)}")
                + f"  # now {fmt_plain(upi.cpus)}: more {upi.target} tasks fit at once")
    return f"more CPUs for {upi.target}, or a cheaper {upi.target}"


def _input_starved_evidence(win: Window, name: str, upi: _Upstream, seen: _Readings) -> str:
    hits = seen.hits
    at_cap = sum(h.held_at_cap for h in hits)
    return (f"{name}: {fmt_plain(round(mean([h.idle for h in hits]) or 0, 1))} actors idle on average with "
            f"an empty input queue in {len(hits)}/{len(seen.flags)} samples {win.describe()}, while "
            f"{upi.label} ran {fmt_plain(round(mean([h.up_running for h in hits]) or 0, 1))} tasks "
            "on average"
            + (f", at its cap of {upi.size} with input waiting in {at_cap} of them"
               if at_cap and upi.size is not None else "")
            + (f", with {fmt_plain(round(seen.window_free, 1))} CPUs free on average"
               if seen.window_free is not None else ""))


def _input_starved_one(win: Window, ds_id: str, key: str) -> Suggestion | None:
    up_key = win.upstream_of(ds_id, key)
    if up_key is None:
        return None
    upi, model = _upstream(win, ds_id, up_key), model_logical(win, ds_id, key)
    actor_cpus = op_num_cpus(model)
    seen = _starved_samples(win, ds_id, key, upi, actor_cpus)
    share, hits = held_share(seen.flags), seen.hits
    # At least three starved readings: without the probe a window holds two or three (Ray's
    # series refresh every ~10 s), and two stale idle gauges are not a pattern.
    if share is None or len(hits) < th.MIN_SAMPLES or sum(h.capped for h in hits) < len(hits) / 2:
        return None
    name = win.label(ds_id, key)
    return suggest("input-starved", "warning", f"{name} waits for input",
                   _input_starved_evidence(win, name, upi, seen),
                   _input_starved_fix(upi, model, actor_cpus, seen.window_free),
                   operator=name, op_id=key, dataset_id=ds_id, window=win, share=share,
                   figures={"starved_samples": len(hits), "samples": len(seen.flags),
                            "upstream": upi.label, "upstream_id": up_key,
                            "mean_free_cpus": seen.window_free})


def check_input_starved(win: Window) -> list[Suggestion]:
    out = []
    for ds_id, _ in win.judged():
        for key in win.actor_ops(ds_id):
            found = _input_starved_one(win, ds_id, key)
            if found is not None:
                out.append(found)
    return out


# ---- actor-pool-undersized ----------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    key: str
    model: LogicalOp | None
    cpu_each: float
    gpu_each: float


@dataclass(frozen=True)
class _PoolSample:
    hit: bool
    actors: int
    queued: int
    free_cpus: float | None
    ahead_cpus: float  # held by the operators upstream of the pool, or trivial ones
    spare_gpus: float | None


def cpus_ahead(win: Window, ds_id: str, d: DatasetStats, key: str) -> float:
    """CPUs another actor of ``key`` could take from other operators: those held by the
    operators upstream of it (with blocks waiting in front of the pool they are ahead of it, and
    Ray Data's budget would hand their CPUs to a new actor) and by trivial ones (count()'s
    Project, a write: a CPU reserved for next to no work)."""
    above = set(win.branch(ds_id, key)) - {key}
    return sum(o.usage.cpu for o in d.operators
               if (op_key(o) in above or (op_key(o) != key and is_trivial(o)))
               and o.usage is not None and o.usage.cpu is not None)


def spare_gpus(snap: Snapshot) -> float | None:
    total = cluster_gpus(snap)
    if total is None:
        return None
    used = sum(o.usage.gpu for d in snap.datasets for o in d.operators
               if o.usage is not None and o.usage.gpu is not None)
    return total - used


def _at_max(pool: _Pool, op: OperatorStats) -> bool:
    a = op.actors
    if a is None or a.running is None:
        return False
    if pool.model is None or pool.model.max_size is None:
        return not a.pending
    return a.running + (a.pending or 0) >= pool.model.max_size


def _pool_sample(win: Window, ds_id: str, pool: _Pool, snap: Snapshot, d: DatasetStats
                 ) -> _PoolSample | None:
    op = _op_in(win, d, pool.key)
    if op is None or op.actors is None or op.actors.running is None:
        return None
    busy, q = busy_actors(op) or 0, op.queued_blocks or 0
    free, ahead = win.summary(snap, free_cpus), cpus_ahead(win, ds_id, d, pool.key)
    gpus = win.summary(snap, spare_gpus)
    room = free is not None and free + ahead >= pool.cpu_each * 0.99 and (
        pool.gpu_each <= 0 or (gpus is not None and gpus >= pool.gpu_each))
    hit = (busy == op.actors.running and busy >= 1 and q >= th.QUEUE_PER_ACTOR * busy
           and _at_max(pool, op) and room)
    return _PoolSample(hit, op.actors.running, q, free, ahead, gpus)


def _grow_by(pool: _Pool, hits: list[_PoolSample]) -> int:
    """Actors that fit in what stayed free in every sample that held; one when only the CPUs
    of the operators ahead make room (they still need some of theirs)."""
    if pool.gpu_each > 0:
        least = min(h.spare_gpus for h in hits if h.spare_gpus is not None)
        return max(1, int(least // pool.gpu_each))
    least = min(h.free_cpus for h in hits if h.free_cpus is not None)
    return max(1, int(least // pool.cpu_each)) if pool.cpu_each > 0 else 1


def _room_words(pool: _Pool, hits: list[_PoolSample]) -> str:
    if pool.gpu_each > 0:
        return f"{fmt_plain(min(h.spare_gpus for h in hits if h.spare_gpus is not None))} GPU(s) stayed free"
    free = min(h.free_cpus for h in hits if h.free_cpus is not None)
    if free >= pool.cpu_each * 0.99:
        return f"{fmt_plain(free)}+ CPUs stayed free"
    return (f"the operators ahead of it (or trivial ones) held {fmt_plain(min(h.ahead_cpus for h in hits))}+ "
            f"CPUs ({fmt_plain(free)} free) while blocks waited for the pool")


def _pool_undersized_one(win: Window, ds_id: str, key: str) -> Suggestion | None:
    model = model_logical(win, ds_id, key)
    pool = _Pool(key, model, op_num_cpus(model), op_num_gpus(model))
    samples = [x for x in (_pool_sample(win, ds_id, pool, s, d) for s, d in win.running(ds_id))
               if x is not None]
    share = held_share([x.hit for x in samples])
    if share is None:
        return None
    hits = [x for x in samples if x.hit]
    cur_max = model.max_size if model is not None and model.max_size else max(x.actors for x in samples)
    cur_min = model.min_size if model is not None else None
    new_max = cur_max + _grow_by(pool, hits)
    neck = win.label(ds_id, key)
    target = model.name if model is not None else first_logical(win, ds_id, key)
    fix = (call(target, actor_strategy(cur_min, new_max))
           + f"  # now {actor_strategy(cur_min, cur_max).split('=', 1)[1]}")
    queues = [x.queued for x in samples]
    evidence = (f"{neck} is the bottleneck: all {fmt_plain(max(x.actors for x in samples))} actors busy, "
                f"{min(queues)}..{max(queues)} blocks queued, pool at max_size={fmt_plain(cur_max)} "
                f"in {len(hits)}/{len(samples)} samples {win.describe()}, while "
                f"{_room_words(pool, hits)} (each actor needs {fmt_plain(pool.cpu_each)}"
                + (f" CPU, {fmt_plain(pool.gpu_each)} GPU" if pool.gpu_each > 0 else "") + ")")
    return suggest("actor-pool-undersized", "warning", f"Actor pool of {neck} is too small",
                   evidence, fix, operator=neck, op_id=key, dataset_id=ds_id, window=win,
                   share=share, figures={"max_size": cur_max, "suggested_max_size": new_max,
                                         "free_cpus": min(h.free_cpus for h in hits
                                                          if h.free_cpus is not None),
                                         "queued_max": max(queues)})


def check_actor_pool_undersized(win: Window) -> list[Suggestion]:
    out = []
    for ds_id, _ in win.judged():
        neck_key = window_bottleneck(win, ds_id)
        if neck_key is None or neck_key not in win.actor_ops(ds_id):
            continue
        found = _pool_undersized_one(win, ds_id, neck_key)
        if found is not None:
            out.append(found)
    return out
