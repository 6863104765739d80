"""The one place that reads Ray Data's private executor internals (Ray 2.54-2.60).

Everything here is a private attribute of Ray Data, so every read goes through ``getattr`` with a
default, a few reads are gated on the Ray version (docs/ray-internals.md), and any field that fails
becomes ``None``. Nothing here raises and nothing here calls Ray over the network: it runs on the
executor's scheduling thread (via the probe) and must stay cheap, O(operators).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from raytop import SUPPORTED_RAY, dataset_rows
from raytop.model import ActorCounts, DatasetStats, LogicalOp, OperatorStats, PhysicalOp, Plan, Resources
from raytop.redact import redact_remote_args


def _ray_version() -> tuple[str | None, tuple[int, int]]:
    try:
        import ray

        text = ray.__version__
        parts = text.split(".")
        return text, (int(parts[0]), int(parts[1]))
    except (ImportError, AttributeError, ValueError, IndexError):  # no Ray, or an odd version
        return None, (0, 0)


RAY_VERSION, RAY_VERSION_TUPLE = _ray_version()


def ray_version_supported() -> bool:
    return SUPPORTED_RAY[0] <= RAY_VERSION_TUPLE <= SUPPORTED_RAY[1]


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - Ray's internals vary by version; the driver must not notice
        return None


def _int(v: Any) -> int | None:
    if type(v) is int:
        return v
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) else None


def _float(v: Any) -> float | None:
    if type(v) is float:
        return v if math.isfinite(v) else None
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _div(a: Any, b: Any) -> float | None:
    a, b = _float(a), _float(b)
    if a is None or not b:
        return None
    return a / b


def _resources(r: Any) -> Resources | None:
    """ExecutionResources -> Resources; an infinite (unlimited) amount becomes None."""
    if r is None:
        return None
    return Resources(
        cpu=_float(_safe(lambda: r.cpu)),
        gpu=_float(_safe(lambda: r.gpu)),
        object_store_bytes=_int(_safe(lambda: r.object_store_memory)),
        memory_bytes=_int(_safe(lambda: r.memory)),
    )


def _topology(executor: Any) -> dict[Any, Any]:
    topo = getattr(executor, "_topology", None)
    return topo if topo is not None else {}


# ---- classes, looked up once ---------------------------------------------------------------

def _import(path: str, name: str) -> type | None:
    try:
        import importlib

        return getattr(importlib.import_module(path), name)
    except Exception:  # noqa: BLE001 - a Ray module that fails to import must not break the driver
        return None


_EXEC = "ray.data._internal.execution.operators."
_ACTOR_OP = _import(_EXEC + "actor_pool_map_operator", "ActorPoolMapOperator")
_TASK_OP = _import(_EXEC + "task_pool_map_operator", "TaskPoolMapOperator")
_ABSTRACT_MAP = _import("ray.data._internal.logical.operators.map_operator", "AbstractMap")
_TASK_STRATEGY = _import("ray.data._internal.compute", "TaskPoolStrategy")
_ACTOR_STRATEGY = _import("ray.data._internal.compute", "ActorPoolStrategy")
_DEFAULT_TARGET_MAX_BLOCK = _import("ray.data.context", "DEFAULT_TARGET_MAX_BLOCK_SIZE")


def _physical_compute(op: Any) -> str:
    if _ACTOR_OP is not None and isinstance(op, _ACTOR_OP):
        return "actor"
    if _TASK_OP is not None and isinstance(op, _TASK_OP):
        return "task"
    name = type(op).__name__
    return "actor" if name == "ActorPoolMapOperator" else "task" if name == "TaskPoolMapOperator" \
        else "other"


# ---- plan ---------------------------------------------------------------------------------

def _logical_ops(op: Any) -> list[Any]:
    return list(getattr(op, "_logical_operators", None) or ())


def _owners(ops: list[Any]) -> tuple[list[Any], dict[int, int]]:
    """Logical operators in plan order, and for each the index of the physical op running it.

    A Read is listed by both the InputDataBuffer and the map operator that runs the read tasks;
    it belongs to the last (downstream) one.
    """
    order: list[Any] = []
    owner: dict[int, int] = {}
    for i, op in enumerate(ops):
        for lop in _logical_ops(op):
            if id(lop) not in owner:
                order.append(lop)
            owner[id(lop)] = i
    return order, owner


def _json_safe(v: Any, depth: int = 0) -> Any:
    if v is None or isinstance(v, (bool, str, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if depth < 6 and isinstance(v, dict):
        return {str(k): _json_safe(x, depth + 1) for k, x in v.items()}
    if depth < 6 and isinstance(v, (list, tuple)):
        return [_json_safe(x, depth + 1) for x in v]
    return repr(v)


def _compute_of(lop: Any) -> tuple[str, int | None, int | None]:
    strategy = getattr(lop, "compute", None)
    if strategy is None:
        return "other", None, None
    if (_ACTOR_STRATEGY is not None and isinstance(strategy, _ACTOR_STRATEGY)) or \
            type(strategy).__name__ == "ActorPoolStrategy":
        return "actor", _int(getattr(strategy, "min_size", None)), \
            _int(getattr(strategy, "max_size", None))
    if (_TASK_STRATEGY is not None and isinstance(strategy, _TASK_STRATEGY)) or \
            type(strategy).__name__ == "TaskPoolStrategy":
        size = _int(getattr(strategy, "size", None))
        return "task", size, size
    return "other", None, None


def _target_max_block_size(lop: Any, op: Any) -> int | None:
    own = _int(getattr(lop, "target_max_block_size", None))
    if own is not None:
        return own
    override = _int(_safe(lambda: op.target_max_block_size_override))
    if override is not None:
        return override
    ctx_value = _int(_safe(lambda: op.data_context.target_max_block_size))
    if ctx_value is not None and ctx_value != _DEFAULT_TARGET_MAX_BLOCK:
        return ctx_value
    return None


def _logical_op(lop: Any, lid: str, ids: dict[int, str], op: Any,
                op_id: str | None = None) -> LogicalOp:
    compute, lo, hi = _safe(lambda: _compute_of(lop)) or ("other", None, None)
    batch = getattr(lop, "batch_size", None)
    can_modify = getattr(lop, "can_modify_num_rows", None)
    # Only the resource keys are kept: runtime_env (merged in here by Ray) carries credentials.
    remote = _safe(lambda: _json_safe(redact_remote_args(getattr(lop, "ray_remote_args", None))))
    deps = _safe(lambda: list(lop.input_dependencies)) or []
    return LogicalOp(
        id=lid,
        name=str(_safe(lambda: lop.name) or type(lop).__name__),
        op_class=type(lop).__name__,
        inputs=tuple(ids[id(d)] for d in deps if id(d) in ids),
        compute=compute,
        min_size=lo,
        max_size=hi,
        ray_remote_args=remote or {},
        has_remote_args_fn=getattr(lop, "ray_remote_args_fn", None) is not None,
        batch_size=batch if isinstance(batch, int) and not isinstance(batch, bool) else None,
        can_modify_num_rows=can_modify if isinstance(can_modify, bool) else None,
        target_max_block_size=_safe(lambda: _target_max_block_size(lop, op)),
        is_map=bool(_ABSTRACT_MAP is not None and isinstance(lop, _ABSTRACT_MAP)),
        physical=_safe(lambda: op.name),
        physical_id=op_id,
    )


def _name_of(obj: Any) -> str | None:
    try:
        return obj.name
    except Exception:  # noqa: BLE001 - a property of Ray's may raise anything
        return None


def _op_id(op: Any, index: int) -> str:
    """Ray's own operator id (the metrics tag and the stats actor's key)."""
    return f"{_name_of(op)}_{index}"


def _input_indexes(op: Any, ops: list[Any]) -> list[int]:
    """Topology indexes of ``op``'s inputs, in input order (identity, not names: branches of a
    zip or union often carry the same name)."""
    position = {id(o): i for i, o in enumerate(ops)}
    deps = _safe(lambda: list(op.input_dependencies)) or []
    return [position[id(d)] for d in deps if id(d) in position]


def _physical_op(op: Any, i: int, ops: list[Any], logical_ids: tuple[str, ...]) -> PhysicalOp:
    inputs = _input_indexes(op, ops)
    return PhysicalOp(
        name=str(_safe(lambda: op.name)),
        physical_class=type(op).__name__,
        logical=logical_ids,
        inputs=tuple(str(_name_of(ops[k])) for k in inputs),
        op_id=_op_id(op, i),
        input_ids=tuple(_op_id(ops[k], k) for k in inputs),
    )


def capture_plan(executor: Any) -> Plan:
    """Every physical operator in topology order with the logical operators it runs."""
    try:
        ops = list(_topology(executor).keys())
        order, owner = _owners(ops)
        ids = {id(lop): f"{k}:{_name_of(lop) or type(lop).__name__}"
               for k, lop in enumerate(order)}
        logical = []
        for lop in order:
            i = owner[id(lop)]
            one = _safe(partial(_logical_op, lop, ids[id(lop)], ids, ops[i], _op_id(ops[i], i)))
            logical.append(one or LogicalOp(id=ids[id(lop)], name=ids[id(lop)],
                                            op_class=type(lop).__name__))
        physical = [_physical_op(op, i, ops, tuple(ids[id(lop)] for lop in order
                                                   if owner[id(lop)] == i))
                    for i, op in enumerate(ops)]
        return Plan(logical=tuple(logical), physical=tuple(physical), ray_version=RAY_VERSION,
                    source="probe")
    except Exception:  # noqa: BLE001 - Ray's internals vary by version: a plan without operators
        return Plan(ray_version=RAY_VERSION, source="probe")


# ---- live operator state --------------------------------------------------------------------

def _queues_sum(queues: Any, attr: str) -> int | None:
    try:
        return int(sum(getattr(q, attr) for q in queues))
    except Exception:  # noqa: BLE001 - Ray's internals vary by version: unknown
        return None


def _per_queue(queues: Any, attr: str) -> tuple[int | None, ...]:
    try:
        return tuple(_int(getattr(q, attr, None)) for q in queues)
    except Exception:  # noqa: BLE001 - Ray's internals vary by version: unknown
        return ()


def _per_input(op: Any, in_queues: Any) -> tuple[tuple[int | None, ...], tuple[int | None, ...]]:
    """(blocks, bytes) waiting at each input of ``op``: its external input queue for that input,
    plus, for a multi-input operator (zip, union) whose internal buffers are one per input, that
    buffer: a zip holds its inputs there until every branch is done."""
    if in_queues is None:
        return (), ()
    blocks, nbytes = _per_queue(in_queues, "num_blocks"), _per_queue(in_queues, "memory_usage")
    internal = _internal_input_queues(op)
    if len(blocks) > 1 and isinstance(internal, (list, tuple)) and len(internal) == len(blocks):
        inner_blocks = tuple(_int(_call(q, "num_blocks")) for q in internal)
        inner_bytes = tuple(_int(_call(q, "estimate_size_bytes")) for q in internal)
        blocks = tuple(_add(a, b) for a, b in zip(blocks, inner_blocks, strict=True))
        nbytes = tuple(_add(a, b) for a, b in zip(nbytes, inner_bytes, strict=True))
    return blocks, nbytes


def _internal_input_queues(op: Any) -> Any:
    """The operator's internal buffers, one per input: the property ``_input_queues`` (Ray
    2.56+), else the list ``_input_buffers`` that zip and union kept before."""
    internal = _safe(lambda: op._input_queues)
    if callable(internal):
        internal = _safe(internal)
    return internal if internal is not None else getattr(op, "_input_buffers", None)


def _add(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else a + b


def _call(obj: Any, name: str) -> Any:
    fn = getattr(obj, name, None)
    return _safe(fn) if callable(fn) else None


def _backpressure_s(metrics: Any, total_attr: str, start_attr: str, now: float) -> float | None:
    total = _float(getattr(metrics, total_attr, None))
    if total is None:
        return None
    start = _float(getattr(metrics, start_attr, None))
    if start is not None and start >= 0:  # in backpressure now: Ray adds this span on release
        total += max(0.0, now - start)
    return total


def _backpressure(op: Any) -> tuple[str, ...]:
    out = []
    if getattr(op, "_in_task_submission_backpressure", False):
        out.append("tasks:" + str(getattr(op, "_task_submission_backpressure_policy", None)
                                  or "unknown"))
    if getattr(op, "_in_task_output_backpressure", False):
        out.append("outputs:" + str(getattr(op, "_task_output_backpressure_policy", None)
                                    or "unknown"))
    return tuple(out)


def _task_time_s(metrics: Any) -> Any:
    """Total wall time of finished tasks: ``task_completion_time_total_s`` before Ray 2.55."""
    total = getattr(metrics, "task_completion_time_s", None)
    return total if total is not None else getattr(metrics, "task_completion_time_total_s", None)


def _actors(op: Any) -> ActorCounts | None:
    info = _call(op, "get_actor_info")
    if info is None:
        return None
    # ActorPoolInfo has no idle before 2.56 (docs/ray-internals.md, "Versions").
    idle = _int(getattr(info, "idle", None)) if RAY_VERSION_TUPLE >= (2, 56) else None
    return ActorCounts(
        running=_int(getattr(info, "running", None)),
        pending=_int(getattr(info, "pending", None)),
        idle=idle,
        restarting=_int(getattr(info, "restarting", None)),
    )


def _read_operator(op: Any, state: Any, index: int, logical_names: tuple[str, ...],
                   resource_manager: Any, dataset_state: str | None,
                   now_perf: float) -> OperatorStats:
    name = str(_safe(lambda: op.name))
    metrics = getattr(op, "_metrics", None)  # the raw object; ``op.metrics`` recomputes extras
    if metrics is None:
        metrics = _safe(lambda: op.metrics)
    compute = _physical_compute(op)
    in_queues = getattr(state, "input_queues", None)
    if in_queues is None:
        in_queues = getattr(state, "inqueues", None)  # before Ray 2.46
    out_queue = getattr(state, "output_queue", None)
    if out_queue is None:
        out_queue = getattr(state, "outqueue", None)
    finished = _call(op, "has_execution_finished")
    gen_blocks = getattr(metrics, "num_task_outputs_generated", None)
    per_input_blocks, per_input_bytes = _per_input(op, in_queues)
    return OperatorStats(
        name=name,
        physical_class=type(op).__name__,
        logical=logical_names,
        compute=compute,
        op_id=_op_id(op, index),
        state="FINISHED" if finished else dataset_state,
        input_queue_blocks=_queues_sum(in_queues, "num_blocks") if in_queues is not None else None,
        input_queue_bytes=_queues_sum(in_queues, "memory_usage") if in_queues is not None else None,
        output_queue_blocks=_int(getattr(out_queue, "num_blocks", None)),
        output_queue_bytes=_int(getattr(out_queue, "memory_usage", None)),
        internal_input_queue_blocks=_int(_call(op, "internal_input_queue_num_blocks")),
        internal_input_queue_bytes=_int(_call(op, "internal_input_queue_num_bytes")),
        internal_output_queue_blocks=_int(_call(op, "internal_output_queue_num_blocks")),
        internal_output_queue_bytes=_int(_call(op, "internal_output_queue_num_bytes")),
        tasks_running=_int(_call(op, "num_active_tasks")),
        tasks_finished=_int(getattr(metrics, "num_tasks_finished", None)),
        tasks_failed=_int(getattr(metrics, "num_tasks_failed", None)),
        actors=_actors(op) if compute == "actor" else None,
        rows_out=_int(getattr(metrics, "row_outputs_taken", None)),
        rows_in=_int(getattr(metrics, "num_row_inputs_received", None)),
        bytes_out=_int(getattr(metrics, "bytes_outputs_taken", None)),
        blocks_out=_int(getattr(metrics, "block_outputs_taken", None)),
        rows_total=_int(_call(op, "num_output_rows_total")),
        backpressure=_backpressure(op),
        usage=_resources(_safe(lambda: resource_manager.get_op_usage(op)))
        if resource_manager is not None else None,
        budget=_resources(_safe(lambda: resource_manager.get_budget(op)))
        if resource_manager is not None else None,
        avg_task_s=_div(_task_time_s(metrics), getattr(metrics, "num_tasks_finished", None)),
        avg_block_bytes=_div(getattr(metrics, "bytes_task_outputs_generated", None), gen_blocks),
        avg_block_rows=_div(getattr(metrics, "rows_task_outputs_generated", None), gen_blocks),
        obj_store_mem_bytes=_int(getattr(metrics, "obj_store_mem_used", None)),
        submission_backpressure_s=_backpressure_s(
            metrics, "task_submission_backpressure_time",
            "_task_submission_backpressure_start_time", now_perf),
        output_backpressure_s=_backpressure_s(
            metrics, "task_output_backpressure_time",
            "_task_output_backpressure_start_time", now_perf),
        inputs_queue_blocks=per_input_blocks,
        inputs_queue_bytes=per_input_bytes,
    )


def read_dataset(executor: Any, dataset_id: str, state: str | None) -> DatasetStats:
    """The executor's live per-operator figures as a ``DatasetStats`` (source "probe")."""
    try:
        topology = _topology(executor)
        ops = list(topology.keys())
        order, owner = _owners(ops)
        names: list[list[str]] = [[] for _ in ops]
        for lop in order:
            names[owner[id(lop)]].append(str(_name_of(lop) or type(lop).__name__))
        rm = getattr(executor, "_resource_manager", None)
        now_perf = time.perf_counter()
        operators = []
        for i, op in enumerate(ops):
            one = _safe(partial(_read_operator, op, topology[op], i, tuple(names[i]), rm, state,
                                now_perf))
            operators.append(one or OperatorStats(name=str(_name_of(op)),
                                                  physical_class=type(op).__name__,
                                                  op_id=_op_id(op, i)))
        first_input = {operators[i].op_id: operators[ins[0]].op_id
                       for i, ins in ((i, _input_indexes(op, ops)) for i, op in enumerate(ops)) if ins}
        rows_op, meaning = dataset_rows.pick(operators, first_input.get)
        return DatasetStats(
            dataset_id=dataset_id,
            state=state,
            rows_out=rows_op.rows_out if rows_op else None,
            operators=tuple(operators),
            rows_total=rows_op.rows_total if rows_op else None,
            source="probe",
            rows_op_id=rows_op.op_id if rows_op else None,
            rows_meaning=meaning,
        )
    except Exception:  # noqa: BLE001 - Ray's internals vary by version: a report without figures
        return DatasetStats(dataset_id=dataset_id, state=state, source="probe")
