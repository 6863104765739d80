"""Which operator's output rows are a dataset's rows, and what those rows are, in words.

The rows a user thinks of are the rows that flowed through the pipeline, not what its consumer
got back: ``count()`` ends in ``AggregateNumRows`` (one row), an aggregation in a hash shuffle and
``limit=1`` (one row), a write in ``Write`` (one result row per written block). So from the sink,
operators that only summarise or write are stepped over, upstream, to the last operator that
really carried the data. Without such a tail the sink's output rows are the rows the consumer
took (``iter_batches``, ``take``, ``materialize``). Pure: operators and their upstream ids only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from raytop.model import OperatorStats, op_key, op_labels

SOURCE_CLASSES = ("InputDataBuffer",)


def tail_kind(name: str) -> str | None:
    """What a terminal operator does to the rows, from its (last fused) name: "write",
    "count", "aggregate", "limit"; None for an operator that carries the data."""
    last = name.split("->")[-1].strip()
    if last.startswith("Write"):
        return "write"
    if last in ("AggregateNumRows", "Count"):
        return "count"
    if last.startswith(("HashAggregate", "Aggregate", "SortAggregate")):
        return "aggregate"
    if last.startswith("limit="):
        return "limit"
    return None


_MEANING = {
    "write": "rows into the write",
    "count": "rows into count()",
    "aggregate": "rows into the aggregation",
}


def is_source(op: OperatorStats) -> bool:
    return op.physical_class in SOURCE_CLASSES or op.name == "Input"


def pick(ops: Sequence[OperatorStats], upstream: Callable[[str], str | None]
         ) -> tuple[OperatorStats | None, str | None]:
    """(operator whose ``rows_out`` are the dataset's rows, what they mean in words).

    ``upstream(key)`` is the op key feeding ``key`` (its first input), None when unknown."""
    if not ops:
        return None, None
    by_key = {op_key(o): o for o in ops}
    labels = op_labels(ops)
    sink = ops[-1]
    op, stepped = sink, []
    while True:
        kind = tail_kind(op.name)
        # A limit is bookkeeping only behind an aggregation (ds.sum() ends in limit=1); a
        # user's own limit/take is the data the consumer asked for.
        if kind is None or (kind == "limit" and not _feeds_from_aggregate(op, by_key, upstream)):
            break
        up = by_key.get(upstream(op_key(op)) or "")
        if up is None or is_source(up):
            # e.g. a write fused with its maps: no operator carries the rows apart from it
            return op, f"result rows of {labels[op_key(op)]} (the rows fed into it are not counted apart)"
        stepped.append(kind)
        op = up
    if not stepped:
        return op, f"rows out of {labels[op_key(op)]}, taken by the consumer"
    kind = next((k for k in stepped if k != "limit"), stepped[0])
    return op, f"{_MEANING.get(kind, 'rows into ' + kind)} (out of {labels[op_key(op)]})"


def _feeds_from_aggregate(op: OperatorStats, by_key, upstream) -> bool:
    up = by_key.get(upstream(op_key(op)) or "")
    return up is not None and tail_kind(up.name) in ("aggregate", "count")


def linear_upstream(ops: Sequence[OperatorStats]) -> Callable[[str], str | None]:
    """``upstream`` for a list in topological order whose edges are not known: the previous
    operator. Used only where the plan gives no inputs."""
    keys = [op_key(o) for o in ops]
    prev = {k: keys[i - 1] for i, k in enumerate(keys) if i > 0}
    return prev.get
