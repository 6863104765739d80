"""A node's readings from what its dashboard agent exports, instead of a sampler actor.

Every node of a ``ray[default]`` cluster runs a dashboard agent whose reporter walks the node's
Ray processes every 5 s (``REPORTER_UPDATE_INTERVAL_MS``) and exports, on the node's metrics
endpoint:

- per process *title* (label ``Component``, e.g. ``ray::MapWorker(MapBatches(Model)).submit``):
  ``ray_component_uss_bytes`` (on Linux RSS minus shared pages), ``ray_component_rss_bytes``,
  ``ray_component_gpu_memory_mb``;
- per node: ``ray_node_cpu_utilization``, ``ray_node_mem_used`` / ``_total``;
- per GPU (label ``GpuIndex``, ``GpuDeviceName``, ``GpuUuid``): ``ray_node_gpus_utilization``,
  ``ray_node_gram_used`` / ``_available`` (MB, whatever the HELP line says),
  ``ray_node_gpu_power_milliwatts``, ``ray_node_gpu_temperature_celsius``.

Titles are parsed as the ``processes`` source parses them, so heap per operator means the same
here. What the page cannot say: the number of worker processes (titles are summed; the raylet's
``GetNodeStats`` gives it), which GPU an operator's memory is on (``gpus[].processes`` stay empty;
``gpu_mem_by_operator`` carries the memory), and USS proper (the reporter estimates it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from raytop.model import OK, GpuStats
from raytop.sources import proctitle
from raytop.sources.base import NodeOverlay
from raytop.sources.metrics import Metrics, value

MB = 1 << 20
GPU_SOURCE = f"{OK} (dashboard agent: per-GPU processes unknown)"
WANTED = ("ray_component_uss_bytes", "ray_component_rss_bytes", "ray_component_gpu_memory_mb",
          "ray_node_cpu_utilization", "ray_node_mem_used", "ray_node_mem_total",
          "ray_node_gpus_utilization", "ray_node_gram_used", "ray_node_gram_available",
          "ray_node_gpu_power_milliwatts", "ray_node_gpu_temperature_celsius")


def _by_component(metrics: Metrics, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, v in metrics.get(name, ()):
        title = labels.get("Component")
        if title and math.isfinite(v):
            out[title] = out.get(title, 0.0) + v
    return out


def heap_from_metrics(metrics: Metrics) -> tuple[int | None, dict[str, int]]:
    """(heap of the node's Ray workers, heap per operator name); (None, {}) without readings."""
    per_title = _by_component(metrics, "ray_component_uss_bytes") or \
        _by_component(metrics, "ray_component_rss_bytes")
    total, workers = 0, 0
    by_op: dict[str, int] = {}
    for title, size in per_title.items():
        parsed = proctitle.parse_title(title)
        if parsed is None or parsed.is_agent:
            continue  # raylet, gcs, the agents, drivers: not workers
        workers += 1
        total += int(size)
        if parsed.operator is not None:
            by_op[parsed.operator] = by_op.get(parsed.operator, 0) + int(size)
    return (total if workers else None), by_op


def gpu_mem_from_metrics(metrics: Metrics) -> dict[str, int]:
    out: dict[str, int] = {}
    for title, mb in _by_component(metrics, "ray_component_gpu_memory_mb").items():
        parsed = proctitle.parse_title(title)
        if parsed is not None and parsed.operator is not None and mb > 0:
            out[parsed.operator] = out.get(parsed.operator, 0) + int(mb * MB)
    return out


def _per_gpu(metrics: Metrics, name: str) -> dict[int, tuple[Mapping[str, str], float]]:
    out: dict[int, tuple[Mapping[str, str], float]] = {}
    for labels, v in metrics.get(name, ()):
        index = labels.get("GpuIndex", "")
        if index.isdigit() and math.isfinite(v):
            out[int(index)] = (labels, v)
    return out


def gpus_from_metrics(metrics: Metrics) -> tuple[GpuStats, ...]:
    util = _per_gpu(metrics, "ray_node_gpus_utilization")
    used = _per_gpu(metrics, "ray_node_gram_used")
    avail = _per_gpu(metrics, "ray_node_gram_available")
    power = _per_gpu(metrics, "ray_node_gpu_power_milliwatts")
    temp = _per_gpu(metrics, "ray_node_gpu_temperature_celsius")
    out = []
    for index in sorted(set(util) | set(used)):
        labels = (util.get(index) or used[index])[0]
        used_mb = used.get(index, (None, None))[1]
        avail_mb = avail.get(index, (None, None))[1]
        total = (used_mb + avail_mb) * MB if used_mb is not None and avail_mb is not None else None
        out.append(GpuStats(
            index=index, uuid=labels.get("GpuUuid"), name=labels.get("GpuDeviceName"),
            util_percent=util.get(index, (None, None))[1],
            mem_used_bytes=int(used_mb * MB) if used_mb is not None else None,
            mem_total_bytes=int(total) if total is not None else None,
            power_watts=power[index][1] / 1000.0 if index in power else None,
            temp_c=temp.get(index, (None, None))[1]))
    return tuple(out)


def overlay_from_metrics(node_id: str, ip: str | None, metrics: Metrics) -> NodeOverlay:
    """Everything the node's page says about it (fields it does not carry stay None)."""
    heap, by_op = heap_from_metrics(metrics)
    gpus = gpus_from_metrics(metrics)
    mem_used = value(metrics, "ray_node_mem_used", agg="max")
    mem_total = value(metrics, "ray_node_mem_total", agg="max")
    return NodeOverlay(
        node_id=node_id, ip=ip, heap_bytes=heap, heap_by_operator=by_op if heap is not None else None,
        gpus=gpus, gpu_source=GPU_SOURCE if gpus else "absent: the node's agent reports no GPU",
        gpu_mem_by_operator=gpu_mem_from_metrics(metrics),
        cpu_percent=value(metrics, "ray_node_cpu_utilization", agg="max"),
        mem_used_bytes=int(mem_used) if mem_used is not None else None,
        mem_total_bytes=int(mem_total) if mem_total is not None else None)
