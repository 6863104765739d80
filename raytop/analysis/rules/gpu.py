"""GPU rules from NVML readings: gpu-underutilized, gpu-memory-risk. Silent without readings."""

from __future__ import annotations

import math

from ...format import fmt_bytes
from ...model import DatasetStats, GpuStats, Snapshot, Suggestion, op_key
from .. import thresholds as th
from ..bottleneck import window_bottleneck
from ..window import Window, ops_by_key
from .common import call, model_logical, op_num_gpus, pct, running_dataset, suggest

GpuKey = tuple[str, int]


def _readings(snap: Snapshot) -> dict[GpuKey, GpuStats]:
    return {(n.node_id, g.index): g for n in snap.nodes for g in n.gpus
            if not g.lost and (g.util_percent is not None or g.mem_used_bytes is not None)}


def _mem_fraction(g: GpuStats) -> float | None:
    if g.mem_used_bytes is None or not g.mem_total_bytes:
        return None
    return g.mem_used_bytes / g.mem_total_bytes


def _positions(snap: Snapshot) -> dict[GpuKey, int]:
    return {k: i for i, k in enumerate(_readings(snap))}


def _risky_keys(snap: Snapshot) -> tuple[GpuKey, ...]:
    """The GPUs whose memory is at risk in this snapshot (a reading of ``_readings``)."""
    out = []
    for n in snap.nodes:
        for g in n.gpus:
            used, total = g.mem_used_bytes, g.mem_total_bytes
            if used is not None and total and not g.lost and used / total >= th.GPU_MEM_RISK_FRACTION:
                out.append((n.node_id, g.index))
    return tuple(out)


def _owner(g: GpuStats) -> str | None:
    procs = [p for p in g.processes if p.operator]
    if not procs:
        return None
    return max(procs, key=lambda p: p.gpu_mem_bytes or 0).operator


def _key_of_name(win: Window, ds_id: str | None, name: str | None) -> str | None:
    """The op key of the one operator called ``name`` (GPU processes carry only names); None
    when no operator or several share it."""
    d = win.latest_dataset(ds_id) if ds_id and name else None
    keys = [op_key(o) for o in d.operators if o.name == name] if d is not None else []
    return keys[0] if len(keys) == 1 else None


def _batch_fix(win: Window, ds_id: str | None, op_name: str | None, factor: float,
               key: str | None = None) -> str:
    model = model_logical(win, ds_id, key) if ds_id and key else None
    if model is None:
        what = "smaller" if factor < 1 else "larger"
        return f"a {what} batch_size on the model's map_batches call" + (f" ({op_name})" if op_name else "")
    if model.batch_size is None:
        what = "smaller" if factor < 1 else "larger"
        return call(model.name, f"batch_size=<{what} than now>") + "  # now Ray's default batch_size"
    new = max(1, int(model.batch_size * factor))
    return call(model.name, f"batch_size={new}") + f"  # now batch_size={model.batch_size}"


def _series(win: Window) -> dict[GpuKey, list[tuple[Snapshot, GpuStats]]]:
    """Each GPU's readings over the window, in the order GPUs first appear in it; only the GPUs
    at risk in at least one sample (no other can hold the rule)."""
    risky: dict[GpuKey, None] = {}
    for s in win.snaps:
        for k in win.summary(s, _risky_keys):
            risky.setdefault(k, None)
    if not risky:
        return {}
    readings = [win.summary(s, _readings) for s in win.snaps]

    def first_seen(k: GpuKey) -> tuple[int, int]:
        i = next(i for i, r in enumerate(readings) if k in r)
        return i, win.summary(win.snaps[i], _positions)[k]
    return {k: [(s, r[k]) for s, r in zip(win.snaps, readings, strict=True) if k in r]
            for k in sorted(risky, key=first_seen)}


def check_gpu_memory_risk(win: Window) -> list[Suggestion]:
    series = _series(win)
    out = []
    for (node, index), pts in series.items():
        fr = [(s, g, f) for s, g in pts if (f := _mem_fraction(g)) is not None]
        if len(fr) < th.MIN_SAMPLES:
            continue
        risky = [x for x in fr if x[2] >= th.GPU_MEM_RISK_FRACTION]
        share = len(risky) / len(fr)
        if share < th.HOLD_FRACTION:
            continue
        crit = sum(1 for x in fr if x[2] >= th.GPU_MEM_CRITICAL_FRACTION) >= th.HOLD_FRACTION * len(fr)
        g = risky[-1][1]
        op_name = _owner(g)
        ds_id = running_dataset(win)
        key = _key_of_name(win, ds_id, op_name)
        evidence = (f"GPU {index} ({g.name or node}) memory {fmt_bytes(g.mem_used_bytes)} of "
                    f"{fmt_bytes(g.mem_total_bytes)} ({pct(risky[-1][2])}), >= "
                    f"{pct(th.GPU_MEM_RISK_FRACTION)} in {len(risky)}/{len(fr)} samples {win.describe()}"
                    + (f"; held by {op_name}" if op_name else ""))
        out.append(suggest("gpu-memory-risk", "critical" if crit else "warning",
                           f"GPU {index} is about to run out of memory", evidence,
                           _batch_fix(win, ds_id, op_name, 0.5, key), operator=op_name, op_id=key,
                           dataset_id=ds_id,
                           window=win, share=share,
                           figures={"gpu": index, "mem_fraction": risky[-1][2]}))
    return out


def _on_gpus(d: DatasetStats) -> tuple[str, ...]:
    """Op keys whose operator (as ``op_samples`` finds it) uses GPUs or holds GPU memory."""
    return tuple(k for k, o in ops_by_key(d).items()
                 if (o.usage is not None and (o.usage.gpu or 0) > 0) or o.gpu_mem_bytes)


def _gpu_ops(win: Window, ds_id: str) -> list[str]:
    on_gpus = set()
    for _, d in win.running(ds_id):
        on_gpus.update(win.summary(d, _on_gpus))
    return [key for key in win.operator_keys(ds_id)
            if key in on_gpus or op_num_gpus(model_logical(win, ds_id, key)) > 0]


def _gpus_of(snap: Snapshot, name: str) -> tuple[float, float | None] | None:
    """(mean utilization, peak memory fraction) of the GPUs held by the operator called
    ``name`` (of every GPU when none is), None without a utilization reading."""
    readings = _readings(snap)
    # GPU processes carry the operator's name only: same-named operators share them
    mine = [g for g in readings.values() if _owner(g) == name] or list(readings.values())
    u = [g.util_percent for g in mine if g.util_percent is not None]
    m = [f for g in mine if (f := _mem_fraction(g)) is not None]
    if not u:
        return None
    return sum(u) / len(u), (max(m) if m else None)


def check_gpu_underutilized(win: Window) -> list[Suggestion]:
    out = []
    for ds_id, samples in win.judged():
        neck_key = window_bottleneck(win, ds_id)
        if neck_key is None or neck_key not in _gpu_ops(win, ds_id):
            continue
        neck, neck_name = win.label(ds_id, neck_key), win.name_of(ds_id, neck_key)
        utils, mems, low = [], [], []
        for s, _ in samples:
            reading = win.summary(s, _gpus_of, neck_name)
            if reading is None:
                continue
            util, mem = reading
            utils.append(util)
            mems.append(mem)
            low.append(util < th.GPU_LOW_UTIL_PERCENT and (mem is None or mem < th.GPU_MEM_HEADROOM_FRACTION))
        if len(low) < th.MIN_SAMPLES:
            continue  # no GPU reading: stay silent rather than guess
        share = sum(low) / len(low)
        if share < th.HOLD_FRACTION:
            continue
        mean_util = sum(utils) / len(utils)
        known_mem = [m for m in mems if m is not None]
        peak_mem = max(known_mem) if known_mem else None
        factor = 2.0 if peak_mem is None else max(2.0, min(4.0, math.floor(0.8 / max(peak_mem, 0.05))))
        evidence = (f"{neck} is the bottleneck yet its GPU averages {mean_util:.0f} % utilization"
                    + (f" with memory at most {pct(peak_mem)}" if peak_mem is not None else "")
                    + f"; low in {sum(low)}/{len(low)} samples {win.describe()}")
        out.append(suggest("gpu-underutilized", "warning", f"GPU under-used by {neck}", evidence,
                           _batch_fix(win, ds_id, neck, factor, neck_key), operator=neck,
                           op_id=neck_key, dataset_id=ds_id,
                           window=win, share=share,
                           figures={"mean_util_percent": mean_util, "peak_mem_fraction": peak_mem,
                                    "batch_factor": factor}))
    return out
