"""Object store rules: spilling, object-store-pressure."""

from __future__ import annotations

import functools

from ...format import fmt_bytes
from ...model import DatasetStats, OperatorStats, Snapshot, Suggestion, op_key, op_labels
from .. import thresholds as th
from ..window import Window, is_source_op
from .common import model_logical, op_num_cpus, op_num_gpus, pct, running_dataset, suggest


def _store_fraction(snap: Snapshot) -> float | None:
    fr = [n.object_store.used_bytes / n.object_store.capacity_bytes for n in snap.nodes
          if n.object_store.used_bytes is not None and n.object_store.capacity_bytes]
    return max(fr) if fr else None


def _capacity(snap: Snapshot) -> int | None:
    caps = [n.object_store.capacity_bytes for n in snap.nodes if n.object_store.capacity_bytes]
    return sum(caps) if caps else None


def _biggest_store_user(snap: Snapshot) -> tuple[str | None, str | None, int | None]:
    best: tuple[str | None, str | None, int | None] = (None, None, None)
    for d in snap.datasets:
        for op in d.operators:
            held = op.obj_store_mem_bytes
            if held is None and op.usage is not None:
                held = op.usage.object_store_bytes
            if held is not None and not is_source_op(op) and (best[2] is None or held > best[2]):
                best = (d.dataset_id, op_key(op), held)
    return best


def _label(snap: Snapshot, ds_id: str | None, key: str | None) -> str | None:
    d = snap.dataset(ds_id) if ds_id else None
    return op_labels(d.operators).get(key, key) if d is not None and key else key


def _spilled(snap: Snapshot) -> dict[str, int]:
    """node id -> spilled bytes, where known (the first reading of a node id)."""
    out: dict[str, int] = {}
    for n in snap.nodes:
        if n.object_store.spilled_bytes is not None:
            out.setdefault(n.node_id, n.object_store.spilled_bytes)
    return out


# Spilled bytes stay the same from one sample to the next on most nodes: their words too.
_said = functools.lru_cache(maxsize=4096, typed=True)(fmt_bytes)


def _spilled_text(snap: Snapshot) -> dict[str, str]:
    """``_spilled`` in words; asked for only once a node spills."""
    return {k: _said(v) for k, v in _spilled(snap).items()}


def check_spilling(win: Window) -> list[Suggestion]:
    return list(win.once(check_spilling, lambda: _check_spilling(win)))


def _check_spilling(win: Window) -> list[Suggestion]:
    first, last = win.snaps[0], win.latest
    # Each node's first known reading in the window: nodes appear (and readings turn known) a few
    # seconds into a run, so the window's first snapshot may not have them yet.
    spilled = [win.summary(snap, _spilled) for snap in win.snaps]
    rises: list[tuple[str, int, int]] = []
    read_in: list[tuple[int, str]] = []  # (the sample the first reading is from, node id)
    for n in last.nodes:
        nid = n.node_id
        j = 0 if nid in spilled[0] else next((j for j, m in enumerate(spilled) if nid in m), None)
        b = n.object_store.spilled_bytes
        if j is None or b is None:
            continue  # no reading to compare
        a = spilled[j][nid]
        if b - a >= th.SPILL_MIN_BYTES:
            rises.append((n.ip or n.node_id, a, b))
            read_in.append((j, nid))
    if not rises or last.t - first.t <= 0:
        return []
    delta = sum(b - a for _, a, b in rises)
    cap = _capacity(last)
    severity = "critical" if cap and delta >= th.SPILL_CRITICAL_FRACTION * cap else "warning"
    ds_id, op_id, held = _biggest_store_user(last)
    op_name = _label(last, ds_id, op_id)
    ds_id = ds_id or running_dataset(win)
    # fmt_bytes of each reading, kept with the sample it was read from
    texts = {j: win.summary(win.snaps[j], _spilled_text) for j in {j for j, _ in read_in} | {-1}}
    where = "; ".join(f"node {ip}: {texts[j][nid]} -> "
                      f"{texts[-1][nid] if spilled[-1].get(nid) is b else fmt_bytes(b)}"
                      for (ip, _, b), (j, nid) in zip(rises, read_in, strict=True))
    rate = delta / (last.t - first.t)
    evidence = (f"spilled bytes rose by {fmt_bytes(delta)} ({fmt_bytes(rate)}/s) {win.describe()} "
                f"({where}); object store capacity {fmt_bytes(cap)}"
                + (f"; {op_name} holds {fmt_bytes(held)} of it" if op_name else ""))
    bigger = f"ray.init(object_store_memory={int(2 * cap)})  # now {fmt_bytes(cap)}" if cap else \
        "ray.init(object_store_memory=<2x the current store>)"
    fix = ("keep less data in flight: DataContext.get_current()"
           ".override_object_store_memory_limit_fraction = 0.3  # Ray Data default 0.5; "
           f"or give the store more room: {bigger}; and avoid materializing large "
           "intermediates (ds.materialize(), to_pandas()) while the pipeline runs")
    return [suggest("spilling", severity, "Object store is spilling to disk", evidence, fix,
                    operator=op_name, op_id=op_id, dataset_id=ds_id, window=win, share=1.0,
                    figures={"spilled_delta_bytes": delta, "spill_rate_bytes_s": rate,
                             "capacity_bytes": cap})]


def _store_blocked(op: OperatorStats, consumer: OperatorStats | None,
                   cpus_per_task: float = th.DEFAULT_NUM_CPUS, gpus_per_task: float = 0.0) -> bool:
    """Held back by Ray Data's object store budget although its consumer has nothing queued:
    the store, not a slow downstream operator, is what stops it."""
    if "tasks:ResourceBudget" not in op.backpressure or op.budget is None:
        return False
    b = op.budget.object_store_bytes
    # Spent: next to nothing left, or less than one of its own output blocks (16 MiB blocks
    # against an 11 MiB budget stop the operator as surely as 0 does).
    if b is None or (b > th.BUDGET_EXHAUSTED_BYTES and not (op.avg_block_bytes and b < op.avg_block_bytes)):
        return False
    # ResourceBudget also holds an operator back when its CPU/GPU budget cannot fit one more task
    # (e.g. actors hold the CPUs); then the store is not what stops it.
    if op.budget.cpu is not None and op.budget.cpu < cpus_per_task:
        return False
    if gpus_per_task > 0 and op.budget.gpu is not None and op.budget.gpu < gpus_per_task:
        return False
    return consumer is None or (consumer.queued_blocks or 0) == 0


def _per_task(win: Window, ds_id: str, key: str) -> tuple[float, float]:
    """CPUs and GPUs one task of the operator asks for (the plan's values, Ray's defaults)."""
    model = model_logical(win, ds_id, key)
    return op_num_cpus(model), op_num_gpus(model)


def _consumer(win: Window, ds_id: str, ops: list[OperatorStats], op: OperatorStats
              ) -> OperatorStats | None:
    """The operator ``op`` feeds: from the graph, else the next one in topological order."""
    graph = win.graph(ds_id)
    key = op_key(op)
    if graph is not None and graph.edges_known:
        nxt = next((c.key for c in graph.consumers(key) if not c.source), None)
        return next((o for o in ops if op_key(o) == nxt), None)
    i = next(i for i, o in enumerate(ops) if o is op)
    return ops[i + 1] if i + 1 < len(ops) else None


def _asks(win: Window, ds_id: str) -> dict[str, tuple[float, float]]:
    """op key -> (CPUs, GPUs) one task asks for, for the dataset's latest operators (once a
    window)."""
    def make() -> dict[str, tuple[float, float]]:
        d = win.latest_dataset(ds_id)
        ops = d.operators if d is not None else ()
        return {op_key(o): _per_task(win, ds_id, op_key(o)) for o in ops if not is_source_op(o)}
    return win.once((_asks, ds_id), make)


def _store_reading(win: Window, s: Snapshot, d: DatasetStats, ds_id: str
                   ) -> tuple[float | None, bool, tuple[str, ...]]:
    """One sample: the store's fill, whether it counts as full, the operators it blocks. Kept
    with the snapshot while the window's graph and what each task asks for (all the reading
    takes from the window) stay the same: a window re-reads each sample at every tick."""
    graph, asks = win.graph(ds_id), _asks(win, ds_id)
    memo, k = win.cache.memo(s), (_store_reading, id(d))
    kept = memo.get(k)
    if kept is not None and kept[0] is graph and kept[1] == asks:
        return kept[2]
    f = win.summary(s, _store_fraction)
    budget_wait = any("tasks:ResourceBudget" in o.backpressure for o in d.operators)
    is_full = f is not None and (f >= th.STORE_FULL_FRACTION
                                 or (budget_wait and f >= th.STORE_BUSY_FRACTION))
    ops = [o for o in d.operators if not is_source_op(o)]
    hit = tuple(op_key(o) for o in ops if _store_blocked(
        o, _consumer(win, ds_id, ops, o), *(asks.get(op_key(o)) or _per_task(win, ds_id, op_key(o)))))
    memo[k] = (graph, asks, (f, is_full, hit))
    return f, is_full, hit


def check_object_store_pressure(win: Window) -> list[Suggestion]:
    out: list[Suggestion] = []
    if check_spilling(win):
        return out  # a full store that spills: the spilling finding covers it
    for ds_id, samples in win.judged():
        names: dict[str, int]
        full, blocked, fracs, names = [], [], [], {}
        for s, d in samples:
            f, is_full, hit = _store_reading(win, s, d, ds_id)
            fracs.append(f)
            full.append(is_full)
            for n in hit:
                names[n] = names.get(n, 0) + 1
            blocked.append(bool(hit))
        either = [a or b for a, b in zip(full, blocked, strict=True)]
        share = sum(either) / len(either)
        if share < th.HOLD_FRACTION:
            continue
        known = [f for f in fracs if f is not None]
        peak = max(known) if known else None
        crit = sum(1 for f in known if f >= th.STORE_CRITICAL_FRACTION) >= th.HOLD_FRACTION * len(samples)
        op_id = max(names, key=names.__getitem__) if names else _biggest_store_user(win.latest)[1]
        op_name = win.label(ds_id, op_id) if op_id else None
        cap = _capacity(win.latest)
        ev = [f"object store {pct(peak)} full at peak, >= {pct(th.STORE_FULL_FRACTION)} (or >= "
              f"{pct(th.STORE_BUSY_FRACTION)} with an operator waiting on its ResourceBudget) in "
              f"{sum(full)}/{len(samples)} samples" if known else "node object store fill unknown"]
        if names and op_id is not None:
            ev.append(f"{op_name} held back by ResourceBudget with its object store budget spent "
                      f"while its consumer had nothing queued in {names[op_id]}/{len(samples)} samples")
        evidence = "; ".join(ev) + f" {win.describe()}"
        if sum(full) >= sum(blocked):
            fix = (f"ray.init(object_store_memory={int(2 * cap)})  # now {fmt_bytes(cap)}; or "
                   if cap else "a bigger object store (ray.init(object_store_memory=...)); or ")
        else:
            fix = ("DataContext.get_current().override_object_store_memory_limit_fraction = 0.7  "
                   "# Ray Data's share of the store, default 0.5; or ")
        fix += ("smaller blocks: DataContext.get_current().target_max_block_size = 64 * 1024**2 "
                "(default 128 MiB), and fewer blocks in flight (lower the concurrency of "
                f"{op_name or 'the producing operator'})")
        out.append(suggest("object-store-pressure", "critical" if crit else "warning",
                           "Object store is the limit", evidence, fix, operator=op_name,
                           op_id=op_id, dataset_id=ds_id, window=win, share=share,
                           figures={"peak_store_fraction": peak, "full_samples": sum(full),
                                    "budget_blocked_samples": sum(blocked),
                                    "samples": len(samples)}))
    return out
