"""Building blocks for rules: suggestions, and code snippets written with the user's own names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ...format import fmt_plain, fmt_share
from ...model import LogicalOp, Suggestion
from ..plan import canonical_remote_args
from ..window import Window

# Base impact of each rule: how much throughput is usually at stake. Causes rank above the
# symptoms they produce (large blocks above spilling above a full store).
BASE_IMPACT = {
    "dataset-failed": 1.0,
    "stalled": 0.95,
    "gpu-memory-risk": 0.9,
    "gpu-oversubscribed": 0.85,
    "large-blocks": 0.85,
    "spilling": 0.8,
    "heap-pressure": 0.75,
    "actor-pool-undersized": 0.7,
    "object-store-pressure": 0.7,
    "input-starved": 0.65,
    "stateless-model": 0.6,
    "gpu-underutilized": 0.55,
    "small-blocks": 0.5,
    "fusion-break": 0.4,
    "actor-restarts": 0.75,
    "consumer-bound": 0.7,
    "stragglers": 0.6,
}

_METHODS = {"MapBatches": "map_batches", "MapRows": "map", "Map": "map", "Filter": "filter",
            "FlatMap": "flat_map", "Project": "select_columns"}
_CALL_RE = re.compile(r"^(\w+)\((.*)\)$")


def suggest(rule: str, severity: str, title: str, evidence: str, fix: str, *,
            operator: str | None, dataset_id: str | None, window: Window,
            share: float = 1.0, figures: dict[str, Any] | None = None,
            op_id: str | None = None) -> Suggestion:
    """``operator`` is the display label, ``op_id`` the operator's key (``op_key``)."""
    figs = dict(figures or {})
    figs["impact"] = round(BASE_IMPACT[rule] * (0.5 + 0.5 * max(0.0, min(1.0, share))), 4)
    figs["share"] = round(share, 3)
    return Suggestion(rule=rule, severity=severity, title=title, evidence=evidence, fix=fix,
                      operator=operator, dataset_id=dataset_id, window=window.span, figures=figs,
                      op_id=op_id)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def split_call(logical_name: str) -> tuple:
    """"MapBatches(Model)" -> ("MapBatches", "Model"); "ReadParquet" -> ("ReadParquet", None)."""
    m = _CALL_RE.match(logical_name.strip())
    return (m.group(1), m.group(2)) if m else (logical_name.strip(), None)


def is_read(logical_name: str) -> bool:
    return split_call(logical_name)[0].startswith("Read")


def call(logical_name: str, args: str) -> str:
    """The user's call with ``args`` changed, e.g. ``ds.map_batches(Model, batch_size=64, ...)``."""
    cls, udf = split_call(logical_name)
    if cls.startswith("Read"):
        rest = cls[4:]
        fn = ("range" if rest == "Range" else _snake(rest) if rest.startswith("Range")
              else "read_" + _snake(rest))
        return f"ray.data.{fn}(..., {args})"
    method = _METHODS.get(cls, _snake(cls))
    target = f"{udf}, " if udf else ""
    return f"ds.{method}({target}{args}, ...)"


def first_logical(win: Window, dataset_id: str, key: str) -> str:
    """The logical name a fix should address for a physical op (by op key): its last UDF map,
    else the last part of its name."""
    ops = win.logical_ops(dataset_id, key)
    if ops:
        return ops[-1].name
    return win.name_of(dataset_id, key).split("->")[-1]


def model_logical(win: Window, dataset_id: str, key: str) -> LogicalOp | None:
    """The actor-pool or GPU logical op inside a physical op (by op key), if the plan is known."""
    return win.once((model_logical, dataset_id, key), lambda: _model_logical(win, dataset_id, key))


def _model_logical(win: Window, dataset_id: str, key: str) -> LogicalOp | None:
    ops = win.logical_ops(dataset_id, key)
    for op in reversed(ops):
        if op.compute == "actor" or (canonical_remote_args(op.ray_remote_args)["num_gpus"] or 0) > 0:
            return op
    return ops[-1] if ops else None


def op_num_cpus(op: LogicalOp | None) -> float:
    if op is None:
        return 1.0
    return float(canonical_remote_args(op.ray_remote_args)["num_cpus"])


def op_num_gpus(op: LogicalOp | None) -> float:
    if op is None:
        return 0.0
    return float(canonical_remote_args(op.ray_remote_args)["num_gpus"] or 0)


def actor_strategy(min_size, max_size) -> str:
    lo = fmt_plain(min_size) if min_size is not None else 1
    return f"compute=ActorPoolStrategy(min_size={lo}, max_size={fmt_plain(max_size)})"


def mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def running_dataset(win: Window) -> str | None:
    d = next((d for d in win.latest.datasets if d.state in ("RUNNING", None)), None)
    return d.dataset_id if d else (win.latest.datasets[-1].dataset_id if win.latest.datasets else None)


def pct(x: float | None) -> str:
    return fmt_share(x)


def listing(items: list[str]) -> str:
    return ", ".join(items)
