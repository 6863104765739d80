"""The snapshot model: frozen dataclasses for everything raytop shows, records and analyses.

Pure: imports neither Ray nor Textual (checked by a test). A value that could not be read is
``None`` (JSON ``null``), never a made-up zero. Field units and sources: ``docs/snapshot.md``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .tails import OperatorTails

SCHEMA_VERSION = 1

# Source status strings: "ok", "stale: <why>", "absent: <why>".
OK = "ok"


def stale(why: str) -> str:
    return f"stale: {why}"


def absent(why: str) -> str:
    return f"absent: {why}"


def sum_known(values: Iterable[float | None]) -> Any | None:
    """The sum of the values that were read; None when none was (an unknown is never a 0)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True)
class ObjectStore:
    used_bytes: int | None = None
    capacity_bytes: int | None = None
    spilled_bytes: int | None = None


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    gpu_mem_bytes: int | None = None
    operator: str | None = None  # physical operator name, when the pid maps to one


@dataclass(frozen=True)
class GpuStats:
    index: int
    uuid: str | None = None
    name: str | None = None
    util_percent: float | None = None
    mem_used_bytes: int | None = None
    mem_total_bytes: int | None = None
    power_watts: float | None = None
    temp_c: float | None = None
    processes: tuple[GpuProcess, ...] = ()
    mem_util_percent: float | None = None
    power_limit_watts: float | None = None
    lost: bool = False  # the device stopped answering (NVML GPU_IS_LOST); readings are None


@dataclass(frozen=True)
class NodeStats:
    node_id: str
    ip: str | None = None
    is_head: bool = False
    cpu_percent: float | None = None
    mem_used_bytes: int | None = None
    mem_total_bytes: int | None = None
    object_store: ObjectStore = field(default_factory=ObjectStore)
    gpus: tuple[GpuStats, ...] = ()
    alive: bool = True
    num_cpus: float | None = None  # Ray logical resources of the node
    num_gpus: float | None = None
    heap_bytes: int | None = None  # sum of Ray worker memory (USS, else RSS) on the node
    num_workers: int | None = None  # Ray worker processes seen on the node
    heap_by_operator: Mapping[str, int] = field(default_factory=dict)  # operator name -> bytes
    gpu_source: str | None = None  # why ``gpus`` is empty, e.g. "absent: no NVIDIA driver"
    # GPU memory per operator name where it is known per node but not per GPU (a node read
    # from its dashboard agent's metrics: ``gpus[].processes`` are then empty)
    gpu_mem_by_operator: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ActorCounts:
    running: int | None = None
    pending: int | None = None
    idle: int | None = None
    restarting: int | None = None


@dataclass(frozen=True)
class Resources:
    cpu: float | None = None
    gpu: float | None = None
    object_store_bytes: int | None = None
    memory_bytes: int | None = None


@dataclass(frozen=True)
class OperatorStats:
    name: str  # physical operator name as Ray shows it, fused ones read "A->B"
    physical_class: str | None = None  # TaskPoolMapOperator, ActorPoolMapOperator, ...
    logical: tuple[str, ...] = ()  # names of the fused logical operators, in order
    compute: str = "other"  # "task" | "actor" | "other"
    op_id: str | None = None  # Ray's metrics tag, f"{name}_{index}"
    state: str | None = None  # "RUNNING" | "FINISHED" | ... when known
    input_queue_blocks: int | None = None  # external input queue(s) of this operator
    input_queue_bytes: int | None = None
    output_queue_blocks: int | None = None  # external output queue
    output_queue_bytes: int | None = None
    internal_input_queue_blocks: int | None = None  # inside the operator (bundler etc.)
    internal_input_queue_bytes: int | None = None
    internal_output_queue_blocks: int | None = None
    internal_output_queue_bytes: int | None = None
    tasks_running: int | None = None
    tasks_finished: int | None = None
    tasks_failed: int | None = None
    actors: ActorCounts | None = None  # None for operators without an actor pool
    rows_out: int | None = None  # rows taken downstream (cumulative)
    bytes_out: int | None = None
    blocks_out: int | None = None
    rows_total: int | None = None  # Ray's estimate of the rows this operator will output
    backpressure: tuple[str, ...] = ()  # "tasks:<Policy>" / "outputs:<Policy>", active now
    usage: Resources | None = None
    budget: Resources | None = None
    heap_bytes: int | None = None  # worker memory attributed to this operator, all nodes
    gpu_mem_bytes: int | None = None  # GPU memory of this operator's processes
    avg_task_s: float | None = None  # mean wall time of finished tasks
    avg_block_bytes: float | None = None  # mean size of output blocks
    avg_block_rows: float | None = None
    obj_store_mem_bytes: int | None = None  # object store memory held by this operator
    submission_backpressure_s: float | None = None  # cumulative time in task submission backpressure
    output_backpressure_s: float | None = None  # cumulative time in output backpressure
    # Rows out per second as the source measured it. Set by sources whose counters move in steps
    # (Ray's exported series refresh every ~10 s); None: derive it from ``rows_out`` over time.
    rows_per_s: float | None = None
    # One entry per input dependency (zip, union and join have several), in the plan's input
    # order: the external input queue fed by that upstream. Empty when the source cannot tell.
    inputs_queue_blocks: tuple[int | None, ...] = ()
    inputs_queue_bytes: tuple[int | None, ...] = ()
    rows_in: int | None = None  # rows received at its input (cumulative)
    tails: OperatorTails | None = None  # percentiles and the longest-running tasks (raytop.tails)

    @property
    def rows_processed(self) -> int | None:
        """The rows the operator has worked through, for its rows/s: what it output, except for
        a write, whose output is one result row per written block: there, the rows it received."""
        if self.name.split("->")[-1].strip().startswith("Write") and self.rows_in is not None:
            return self.rows_in
        return self.rows_out

    @property
    def queued_blocks(self) -> int | None:
        """Blocks waiting to be processed: the external plus the internal input queue."""
        return sum_known((self.input_queue_blocks, self.internal_input_queue_blocks))

    @property
    def queued_bytes(self) -> int | None:
        return sum_known((self.input_queue_bytes, self.internal_input_queue_bytes))

    @property
    def produced_blocks(self) -> int | None:
        """Blocks produced and not yet taken downstream: internal plus external output queue."""
        return sum_known((self.output_queue_blocks, self.internal_output_queue_blocks))

    @property
    def produced_bytes(self) -> int | None:
        return sum_known((self.output_queue_bytes, self.internal_output_queue_bytes))


@dataclass(frozen=True)
class LogicalOp:
    """A logical operator as planned, captured by the probe at execution start."""

    id: str  # unique in the plan, e.g. "2:MapBatches(Model)"
    name: str
    op_class: str  # MapBatches, MapRows, Filter, FlatMap, Read, Write, Aggregate, ...
    inputs: tuple[str, ...] = ()  # ids of upstream logical operators
    compute: str = "other"  # "task" | "actor" | "other"
    min_size: int | None = None  # actor pool min size / task pool size
    max_size: int | None = None
    ray_remote_args: Mapping[str, Any] = field(default_factory=dict)  # as given, JSON-safe
    has_remote_args_fn: bool = False
    batch_size: int | None = None  # None: not set ("default") or not a batch op
    can_modify_num_rows: bool | None = None
    target_max_block_size: int | None = None
    is_map: bool = False  # a map-like op that Ray's fusion rule considers
    physical: str | None = None  # name of the physical operator that runs it
    physical_id: str | None = None  # op id of that physical operator


@dataclass(frozen=True)
class PhysicalOp:
    name: str
    physical_class: str | None = None
    logical: tuple[str, ...] = ()  # LogicalOp ids, in order
    inputs: tuple[str, ...] = ()  # names of upstream physical operators (for display)
    op_id: str | None = None  # Ray's operator id f"{name}_{index}", as in OperatorStats.op_id
    input_ids: tuple[str, ...] = ()  # op ids of the upstream operators, in input order


@dataclass(frozen=True)
class Plan:
    logical: tuple[LogicalOp, ...] = ()
    physical: tuple[PhysicalOp, ...] = ()
    ray_version: str | None = None
    source: str = "probe"  # "probe": full capture; "names": only physical names were known


@dataclass(frozen=True)
class ConsumerStats:
    """The driver's own loop over a dataset (``iter_batches``, ``iter_torch_batches``,
    ``iter_rows``), as Ray Data's iterator counts it: cumulative over the iteration."""

    blocked_s: float | None = None  # waiting in next() for the pipeline's next batch
    user_s: float | None = None  # in the consumer's own code between two batches
    first_batch_s: float | None = None  # from the start of iteration to the first batch
    total_s: float | None = None  # wall time of finished iterations (0 while the first runs)
    batches: int | None = None  # batches handed to the consumer
    rows: int | None = None  # rows in those batches


@dataclass(frozen=True)
class DatasetStats:
    dataset_id: str
    state: str | None = None  # "PENDING" | "RUNNING" | "FINISHED" | "FAILED"
    rows_out: int | None = None  # rows out of the last operator (cumulative)
    operators: tuple[OperatorStats, ...] = ()
    job_id: str | None = None
    start_time: float | None = None  # unix seconds
    end_time: float | None = None
    rows_total: int | None = None  # Ray's estimate of the dataset's output rows
    error: str | None = None
    source: str | None = None  # "probe" | "stats"
    plan: Plan | None = None
    # When the operator figures were last refreshed (unix s): the probe's read in the driver, or
    # the moment Ray's exported series were seen to change. Samples with the same value repeat
    # one reading and count once in the advisor.
    figures_t: float | None = None
    rows_per_s: float | None = None  # see OperatorStats.rows_per_s
    driver_pid: int | None = None  # the driver process running the execution, when known
    probe: str | None = None  # how the probe got there: "env" | "injected"; None: no probe
    notes: tuple[str, ...] = ()  # what this level of access cannot show, and why, in words
    # Which operator's output rows ``rows_out`` counts, and what those rows are, in words
    # (e.g. "rows into count()"): see docs/snapshot.md, "Dataset rows".
    rows_op_id: str | None = None
    rows_meaning: str | None = None
    # The driver's loop over the dataset, when it iterates it (None: count(), write, take, ...,
    # or not readable): see docs/snapshot.md, "Consumer".
    consumer: ConsumerStats | None = None


@dataclass(frozen=True)
class DriverInfo:
    """A Ray driver process of the watched cluster, and how closely raytop can watch it."""

    pid: int
    job_id: str | None = None
    node_ip: str | None = None
    entrypoint: str | None = None  # the driver's command line, secrets masked
    datasets: tuple[str, ...] = ()  # Ray Data executions of this job seen by the stats actor
    level: str = "probe-free"  # "probe" | "injectable" | "probe-free"
    why: str | None = None  # why the level is not "probe", in one line


@dataclass(frozen=True)
class Snapshot:
    t: float  # unix seconds
    nodes: tuple[NodeStats, ...] = ()
    datasets: tuple[DatasetStats, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION
    address: str | None = None  # the Ray cluster's GCS address
    ray_version: str | None = None
    drivers: tuple[DriverInfo, ...] = ()  # alive drivers of the cluster (attach sessions)

    def dataset(self, dataset_id: str) -> DatasetStats | None:
        return next((d for d in self.datasets if d.dataset_id == dataset_id), None)


@dataclass(frozen=True)
class Suggestion:
    rule: str  # one of analysis.rules.RULE_IDS
    severity: str  # "info" | "warning" | "critical"
    title: str
    evidence: str  # the figures and window that triggered it, in words
    fix: str  # a concrete code change with the user's names and values
    operator: str | None = None  # display label of the operator (name, "#index" when shared)
    dataset_id: str | None = None
    window: tuple[float, float] | None = None  # unix seconds, first and last evidence
    figures: Mapping[str, Any] = field(default_factory=dict)  # the evidence as numbers
    op_id: str | None = None  # the operator's id (``OperatorStats.op_id``); None: no operator


@dataclass(frozen=True)
class Event:
    """Something that happened once: recorded in the events table, shown in the TUI."""

    t: float  # unix seconds
    kind: str  # dataset_started | dataset_finished | dataset_failed | job_exit | source_error | gap | ...
    message: str = ""
    dataset_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"exit_code": 1}


# ---- operator identity -------------------------------------------------------------------

_INDEX_SUFFIX = re.compile(r"_(\d+)$")


def op_key(op: OperatorStats) -> str:
    """What identifies an operator within its dataset: Ray's op id; the name only for records
    written before op ids existed (those pipelines had one operator per name)."""
    return op.op_id or op.name


def op_index(op_id: str | None) -> int | None:
    """The topology index at the end of an op id (``Map_3`` -> 3), None when there is none."""
    m = _INDEX_SUFFIX.search(op_id or "")
    return int(m.group(1)) if m else None


def op_labels(ops) -> dict:
    """op key -> display label: the name, with ``#index`` added when several operators of the
    dataset share that name (``ReadRange->MapBatches(<lambda>) #3``)."""
    ops = list(ops)
    counts: dict = {}
    for op in ops:
        counts[op.name] = counts.get(op.name, 0) + 1
    out = {}
    for i, op in enumerate(ops):
        key = op_key(op)
        index = op_index(op.op_id)
        shared = counts[op.name] > 1
        out[key] = f"{op.name} #{index if index is not None else i}" if shared else op.name
    return out


# ---- dict <-> dataclass -----------------------------------------------------------------

_CONVERTERS: dict = {}  # dataclass -> [(field name, converter)], built once per class
_FIELD_NAMES: dict = {}  # class -> its dataclass field names (() for other classes)
_PLAIN = (str, int, float, bool, type(None))


def _field_names(cls: type) -> tuple:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls)) \
            if dataclasses.is_dataclass(cls) else ()
    return names


def to_dict(obj: Any) -> Any:
    """A dataclass tree as plain JSON-ready values (tuples become lists). Written for speed
    (it runs on every snapshot the recorder writes): field names cached per class, plain
    values returned before any ``isinstance`` against an ABC."""
    cls = type(obj)
    if cls in _PLAIN:
        return obj
    names = _field_names(cls)
    if names:
        return {n: to_dict(getattr(obj, n)) for n in names}
    if cls is tuple or cls is list:
        return [to_dict(v) for v in obj]
    if cls is dict or isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@typing.overload
def clean_text(s: str) -> str: ...


@typing.overload
def clean_text(s: None) -> None: ...


def clean_text(s: str | None) -> str | None:
    """``s`` with C0/C1 control characters (escape sequences among them) shown as ``\\xNN``: text
    from jobs, other users' datasets and recordings must never drive the terminal."""
    if not isinstance(s, str) or _CONTROL.search(s) is None:
        return s
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


def _clean_any(v: Any) -> Any:
    """Strings anywhere in a JSON value cleaned (mappings such as ``figures`` or ``data``)."""
    if isinstance(v, str):
        return clean_text(v)
    if isinstance(v, list):
        return [_clean_any(x) for x in v]
    if isinstance(v, dict):
        return {clean_text(str(k)): _clean_any(x) for k, x in v.items()}
    return v


def _wrong(v: Any, what: str) -> TypeError:
    return TypeError(f"expected {what}, got {type(v).__name__}")


def _to_float(v: Any) -> Any:
    if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
        return None if v is None else float(v)
    raise _wrong(v, "a number")


def _to_int(v: Any) -> Any:
    if v is None or (isinstance(v, int) and not isinstance(v, bool)):
        return v
    raise _wrong(v, "an integer")


def _to_bool(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    raise _wrong(v, "true or false")


def _to_str(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return clean_text(v)
    raise _wrong(v, "a string")


def _to_mapping(v: Any) -> Any:
    if v is None or isinstance(v, dict):
        return _clean_any(v)
    raise _wrong(v, "an object")


_SCALAR_CONVERTERS = {float: _to_float, int: _to_int, bool: _to_bool, str: _to_str}


def _converter(tp: Any):
    """A function turning a JSON value into ``tp``; None stays None at every level. A value of
    the wrong JSON type raises TypeError (readers of recordings and datagrams treat the record
    as unreadable), so nothing downstream meets a string where a number belongs."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:  # Optional[X], X | None
        inner = [a for a in args if a is not type(None)]
        return _converter(inner[0]) if len(inner) == 1 else _clean_any
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return lambda v: None if v is None else from_dict(tp, v)
    if origin in (tuple, tuple):
        item = _converter(args[0]) if args else _clean_any

        def to_tuple(v: Any) -> Any:
            if v is None:
                return None
            if not isinstance(v, (list, tuple)):
                raise _wrong(v, "a list")
            return tuple(item(x) for x in v)
        return to_tuple
    if tp in _SCALAR_CONVERTERS:
        return _SCALAR_CONVERTERS[tp]
    if origin in (dict, collections.abc.Mapping) or tp in (dict, Mapping):
        return _to_mapping
    return _clean_any


def _plan(cls: type) -> list:
    plan = _CONVERTERS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = _CONVERTERS[cls] = [(f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls)]
    return plan


def from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Build ``cls`` from a dict made by ``to_dict``; unknown keys are ignored (newer writers
    may add fields), missing keys take the field default; values of the wrong type raise
    TypeError."""
    if not isinstance(data, Mapping):
        raise _wrong(data, "an object")
    return cls(**{name: conv(data[name]) for name, conv in _plan(cls) if name in data})


def snapshot_from_dict(data: Mapping[str, Any]) -> Snapshot:
    return from_dict(Snapshot, data)


def snapshot_to_dict(snap: Snapshot) -> dict:
    return to_dict(snap)
