"""Hand-built snapshots for the pure analysis tests."""

from __future__ import annotations

from collections.abc import Callable

from raytop.model import (
    ActorCounts,
    DatasetStats,
    GpuProcess,
    GpuStats,
    LogicalOp,
    NodeStats,
    ObjectStore,
    OperatorStats,
    PhysicalOp,
    Plan,
    Resources,
    Snapshot,
)

MIB = 1024 * 1024
GIB = 1024 * MIB
T0 = 1000.0


def node(cpus=2.0, gpus=None, store_used=100 * MIB, store_cap=1000 * MIB, spilled=0,
         mem_used=4 * GIB, mem_total=16 * GIB, heap=None, gpu_list=()) -> NodeStats:
    return NodeStats(node_id="n1", ip="10.0.0.1", is_head=True, num_cpus=cpus, num_gpus=gpus,
                     object_store=ObjectStore(store_used, store_cap, spilled),
                     mem_used_bytes=mem_used, mem_total_bytes=mem_total, heap_bytes=heap,
                     gpus=tuple(gpu_list))


def gpu(util=90.0, used=4 * GIB, total=16 * GIB, operator=None) -> GpuStats:
    procs = (GpuProcess(pid=4242, gpu_mem_bytes=used, operator=operator),) if operator else ()
    return GpuStats(index=0, name="H100", util_percent=util, mem_used_bytes=used,
                    mem_total_bytes=total, processes=procs)


def op(name, compute="task", q=0, iq=None, running=1, actors=None, bp=(), cpu=None, gpu_used=None,
       budget_store=None, cls=None, **kw) -> OperatorStats:
    a = ActorCounts(*actors) if actors is not None else None
    usage = Resources(cpu=cpu, gpu=gpu_used) if cpu is not None or gpu_used is not None else None
    budget = Resources(cpu=1.0, object_store_bytes=budget_store) if budget_store is not None else None
    cls = cls or ("ActorPoolMapOperator" if compute == "actor" else "TaskPoolMapOperator")
    return OperatorStats(name=name, physical_class=cls, compute=compute, input_queue_blocks=q,
                         internal_input_queue_blocks=iq, tasks_running=running, actors=a,
                         backpressure=tuple(bp), usage=usage, budget=budget, **kw)


def snap(i: int, ops: list[OperatorStats], nodes=None, plan: Plan | None = None,
         state="RUNNING", ds="ds_1", dt=1.0) -> Snapshot:
    inp = OperatorStats(name="Input", physical_class="InputDataBuffer")
    d = DatasetStats(dataset_id=ds, state=state, operators=(inp, *ops), start_time=T0 - 10,
                     plan=plan)
    return Snapshot(t=T0 + i * dt, nodes=tuple(nodes or [node()]), datasets=(d,))


def history(make: Callable[[int], Snapshot], n: int = 20) -> list[Snapshot]:
    return [make(i) for i in range(n)]


def lop(id_, op_class, udf=None, inputs=(), compute="task", physical=None, **kw) -> LogicalOp:
    name = f"{op_class}({udf})" if udf else op_class
    return LogicalOp(id=id_, name=name, op_class=op_class, inputs=tuple(inputs), compute=compute,
                     physical=physical, is_map=kw.pop("is_map", True), **kw)


def plan_of(groups, logical, source="probe") -> Plan:
    """groups: list of (physical name, class, [logical ids]) in order."""
    phys = []
    prev = None
    for name, cls, ids in groups:
        phys.append(PhysicalOp(name=name, physical_class=cls, logical=tuple(ids),
                               inputs=(prev,) if prev else ()))
        prev = name
    by_phys = {i: name for name, _, ids in groups for i in ids}
    logical = [LogicalOp(**{**lo.__dict__, "physical": by_phys.get(lo.id)}) for lo in logical]
    return Plan(logical=tuple(logical), physical=tuple(phys), ray_version="2.60.0", source=source)
