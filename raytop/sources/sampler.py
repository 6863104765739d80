"""Other nodes' heap and GPUs through Ray: one small sampler actor per node.

raytop reaches the other nodes of a cluster only through Ray: the bridge process (a Ray driver)
starts one ``_RaytopSampler`` actor per node (``num_cpus=0``, hard node affinity) that reads
psutil (worker heap by operator) and NVML (GPUs, per-process memory) on its node and answers
``sample()`` calls. The bridge's own node is read directly by the ``processes`` source and the
local ``gpu`` source, so it gets no actor unless ``include_local=True``.

Lifetime: the actors are non-detached, owned by the bridge's driver. When the bridge exits (raytop
closed, or killed: the bridge dies with raytop through PR_SET_PDEATHSIG), Ray kills them with their
owner. ``close()`` kills them at once. They are named ``raytop-sampler-<session>-<node id>`` in the
``_raytop`` namespace, so a leftover can be found with ``ray list actors`` or
``ray.util.list_named_actors(all_namespaces=True)``.

The code travels with the actor (``runtime_env.py_modules``): nodes need Ray, not raytop.
"""

from __future__ import annotations

import os
import pickle
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytop.model import Event, absent
from raytop.sources.base import NodeOverlay, Part, SourceAbsent

NO_AGENTS_ENV = "RAYTOP_NO_AGENTS"  # "1": --no-agents, start no actors
NAMESPACE = "_raytop"
NAME_PREFIX = "raytop-sampler-"


def sampler_name(session: str, node_id: str) -> str:
    return f"{NAME_PREFIX}{session}-{node_id[:16]}"


@dataclass(frozen=True)
class NodeSample:
    """One answer of a sampler actor."""

    overlay: NodeOverlay
    t: float  # unix seconds when sampled on the node
    read_s: float  # wall time of the readings on the node
    cpu_s: float  # the sampler process's cumulative CPU seconds (user + system)
    rss_bytes: int | None  # the sampler process's resident memory
    errors: tuple[str, ...] = ()  # readings that failed on the node, one line each


class _RaytopSampler:
    """Runs on one node (the class name keeps it out of operator attribution: see proctitle)."""

    def __init__(self) -> None:
        import psutil
        import ray

        from raytop.sources.gpu import GpuSource

        self._node_id = ray.get_runtime_context().get_node_id()
        try:
            self._ip: str | None = ray.util.get_node_ip_address()
        except Exception:  # noqa: BLE001
            self._ip = None
        self._me = psutil.Process()
        from raytop.sources.processes import ProcessSource

        self._procs = ProcessSource(node_id=self._node_id, ip=self._ip)
        self._gpu = GpuSource(node_id=self._node_id, ip=self._ip)
        psutil.cpu_percent(interval=None)  # primes the non-blocking node CPU reading

    def node_id(self) -> str:
        return self._node_id

    def sample(self) -> NodeSample:
        from raytop.sources.cluster import _local_mem_cpu

        started = time.monotonic()
        errors: list[str] = []
        heap = workers = by_op = None
        pid_ops: dict[int, str] = {}
        try:
            heap, workers, by_op, pid_ops = self._heap()
        except Exception as e:  # noqa: BLE001 - one failed reading must not lose the others
            errors.append(f"heap: {type(e).__name__}: {e}"[:200])
        gpus: tuple | None = None
        try:
            gpus = self._gpu.gpus(pid_ops)
            gpu_source = "ok"
        except SourceAbsent as e:
            gpus, gpu_source = (), absent(str(e) or "no GPU")
        except Exception as e:  # noqa: BLE001
            gpu_source = f"stale: {type(e).__name__}: {e}"[:200]
            errors.append(f"gpu: {gpu_source}")
        mem_used, mem_total, cpu = _local_mem_cpu()
        overlay = NodeOverlay(node_id=self._node_id, ip=self._ip, gpus=gpus, gpu_source=gpu_source,
                              heap_bytes=heap, num_workers=workers, heap_by_operator=by_op,
                              cpu_percent=cpu, mem_used_bytes=mem_used, mem_total_bytes=mem_total)
        times = self._me.cpu_times()
        try:
            rss: int | None = int(self._me.memory_info().rss)
        except Exception:  # noqa: BLE001
            rss = None
        return NodeSample(overlay=overlay, t=time.time(), read_s=time.monotonic() - started,
                          cpu_s=float(times.user + times.system), rss_bytes=rss,
                          errors=tuple(errors))

    def stacks(self, operator: str, n: int, native: bool = False) -> list:
        """Python stacks of ``operator``'s busiest workers on this node (raytop.stacks)."""
        from raytop.stacks import node_stacks

        me = os.getpid()
        workers = [w for w in self._procs.workers() if w.pid != me]
        return node_stacks(workers, operator, n, self._ip or self._node_id, native)

    def _heap(self):
        me = os.getpid()
        total = 0
        by_op: dict[str, int] = {}
        pid_ops: dict[int, str] = {}
        workers = [w for w in self._procs.workers() if w.pid != me]  # not the sampler itself
        for w in workers:
            if w.heap_bytes is not None:
                total += w.heap_bytes
            if w.operator is not None:
                pid_ops[w.pid] = w.operator
                if w.heap_bytes is not None:
                    by_op[w.operator] = by_op.get(w.operator, 0) + w.heap_bytes
        return total, len(workers), by_op, pid_ops


@dataclass
class _Slot:
    """The bridge's bookkeeping for one node's sampler."""

    node_id: str
    name: str
    handle: Any = None
    inflight: Any = None  # ObjectRef of the sample() call not yet answered
    sent_at: float = 0.0
    last: NodeSample | None = None
    last_at: float = 0.0  # monotonic time the last answer arrived
    started_at: float = 0.0
    failures: int = 0
    retry_at: float = 0.0
    sizes: list[int] = field(default_factory=list)  # pickled bytes of recent answers


class SamplerSource:
    """Runs in the bridge: starts/stops one sampler per node, returns their overlays."""

    name = "samplers"

    def __init__(self, *, wait_s: float = 0.4, max_age_s: float = 10.0, membership_s: float = 2.0,
                 include_local: bool = False, ship_code: bool = True,
                 session: str | None = None) -> None:
        import ray

        if os.environ.get(NO_AGENTS_ENV) == "1":
            raise SourceAbsent("off (--no-agents): other nodes' heap, workers and GPUs are not read")
        if not ray.is_initialized():
            raise SourceAbsent("not connected to a Ray cluster")
        self._ray = ray
        self._wait_s = wait_s
        self._max_age_s = max_age_s
        self._membership_s = membership_s
        self._include_local = include_local
        self.session = session or uuid.uuid4().hex[:8]
        self._local_node = ray.get_runtime_context().get_node_id()
        self._slots: dict[str, _Slot] = {}
        self._nodes_at = 0.0
        self._alive: dict[str, str | None] = {}  # node id -> ip
        self._events: list[Event] = []
        self._ship_code = ship_code
        self._options: dict[str, Any] | None = None  # built at the first actor start
        self._actor_cls = ray.remote(_RaytopSampler)
        self._only: set | None = None  # read only these nodes (None: every other node)

    # ---- membership ----------------------------------------------------------------------
    def _refresh_nodes(self, now: float) -> None:
        if self._alive and now - self._nodes_at < self._membership_s:
            return
        self._alive = {n["NodeID"]: n.get("NodeManagerAddress") for n in self._ray.nodes()
                       if n.get("Alive") and n.get("NodeID")}
        self._nodes_at = now
        for node_id in [n for n in self._slots if n not in self._alive]:
            self._drop(node_id, "node left the cluster", event=False)

    def _start(self, node_id: str, now: float) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        slot = self._slots.get(node_id) or _Slot(node_id, sampler_name(self.session, node_id))
        self._slots[node_id] = slot
        if self._options is None:
            self._options = {"num_cpus": 0, "max_restarts": 0, "namespace": NAMESPACE}
            env = _shipped_code_env() if self._ship_code else None
            if env is not None:
                self._options["runtime_env"] = env
        strategy = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
        slot.handle = self._actor_cls.options(name=slot.name, scheduling_strategy=strategy,
                                              **self._options).remote()
        slot.inflight, slot.started_at = None, now

    def _drop(self, node_id: str, why: str, *, event: bool = True) -> None:
        slot = self._slots.get(node_id)
        if slot is None:
            return
        if slot.handle is not None:
            try:
                self._ray.kill(slot.handle, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        if event:
            slot.failures += 1
            delay = min(60.0, 2.0 ** slot.failures)
            slot.retry_at = time.monotonic() + delay
            slot.handle = slot.inflight = None
            slot.last = None
            self._events.append(Event(t=time.time(), kind="source_error",
                                      message=f"samplers: node {node_id[:12]}: {why}; "
                                              f"retrying in {delay:.0f}s",
                                      data={"source": self.name, "node_id": node_id}))
        else:
            del self._slots[node_id]

    # ---- reading -------------------------------------------------------------------------
    def read_nodes(self, node_ids) -> Part:
        """Samplers on these nodes only (those whose dashboard agent does not answer); the
        samplers of other nodes are stopped."""
        self._only = set(node_ids)
        for node_id in [n for n in self._slots if n not in self._only]:
            self._drop(node_id, "not needed", event=False)
        return self.read()

    def read(self) -> Part:
        now = time.monotonic()
        self._refresh_nodes(now)
        for node_id in self._alive:
            if node_id == self._local_node and not self._include_local:
                continue
            if self._only is not None and node_id not in self._only:
                continue
            slot = self._slots.get(node_id)
            if slot is None or (slot.handle is None and now >= slot.retry_at):
                self._start(node_id, now)
        self._collect(timeout=0)  # answers that arrived since the last read
        for slot in self._slots.values():
            if slot.handle is not None and slot.inflight is None:
                slot.inflight, slot.sent_at = slot.handle.sample.remote(), time.monotonic()
        self._collect(timeout=self._wait_s)
        now = time.monotonic()
        overlays = tuple(s.last.overlay for s in self._slots.values()
                         if s.last is not None and now - s.last_at <= self._max_age_s)
        events, self._events = tuple(self._events), []
        return Part(overlays=overlays, events=events)

    def _collect(self, timeout: float) -> None:
        waiting = {s.inflight: s for s in self._slots.values() if s.inflight is not None}
        if not waiting:
            return
        ready, _ = self._ray.wait(list(waiting), num_returns=len(waiting), timeout=timeout,
                                  fetch_local=True)
        for ref in ready:
            slot = waiting[ref]
            slot.inflight = None
            try:
                sample = self._ray.get(ref, timeout=5)
            except Exception as e:  # noqa: BLE001 - actor died / could not start
                self._drop(slot.node_id, _why(e))
                continue
            slot.last, slot.last_at, slot.failures = sample, time.monotonic(), 0
            slot.sizes = (slot.sizes + [len(pickle.dumps(sample))])[-20:]

    def stacks(self, operator: str, n: int, native: bool = False,
               timeout: float = 90.0) -> list:
        """Stacks of ``operator``'s busiest workers on every other node, through the samplers
        (started here when the session has none yet)."""
        self._only = None  # every other node, whatever the session read before
        self.read()  # membership, and a sampler on each node
        handles = {node: s.handle for node, s in self._slots.items() if s.handle is not None}
        refs = {node: h.stacks.remote(operator, n, native) for node, h in handles.items()}
        out: list = []
        for node, ref in refs.items():
            try:
                out.extend(self._ray.get(ref, timeout=timeout))
            except Exception as e:  # noqa: BLE001 - a node that cannot answer is said so
                from raytop.stacks import WorkerStack

                out.append(WorkerStack(0, self._alive.get(node) or node[:12], "", None,
                                       error=f"node did not answer: {_why(e)}"))
        return out

    # ---- for docs/scaling.md and tests ---------------------------------------------------
    def samplers(self) -> dict[str, NodeSample | None]:
        """node id -> its sampler's last answer (None while it starts)."""
        return {n: s.last for n, s in self._slots.items() if s.handle is not None}

    def answer_sizes(self) -> dict[str, list[int]]:
        return {n: list(s.sizes) for n, s in self._slots.items()}

    def close(self) -> None:
        for slot in list(self._slots.values()):
            if slot.handle is not None:
                try:
                    self._ray.kill(slot.handle, no_restart=True)
                except Exception:  # noqa: BLE001
                    pass
        self._slots.clear()


def _shipped_code_env() -> dict[str, Any] | None:
    """A runtime env carrying this raytop package, uploaded once to the cluster's GCS (what
    ``ray.init(runtime_env={"py_modules": [...]})`` does; actor options only take URIs). None when
    Ray's uploader moved: the nodes then need raytop installed."""
    import tempfile

    try:
        from ray._private.runtime_env.py_modules import upload_py_modules_if_needed

        env = {"py_modules": [str(Path(__file__).resolve().parents[1])],
               "excludes": ["__pycache__", "*.pyc"]}
        return upload_py_modules_if_needed(env, include_gitignore=True,
                                           scratch_dir=tempfile.gettempdir(), logger=None)
    except Exception:  # noqa: BLE001
        return None


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = next((line for line in text if line.strip()), type(e).__name__)
    return f"sampler failed: {type(e).__name__}: {first}"[:200]


def leftover_samplers() -> list[tuple[str, str]]:
    """(namespace, name) of every raytop sampler actor alive in the connected cluster."""
    from ray.util import list_named_actors

    return [(a["namespace"], a["name"]) for a in list_named_actors(all_namespaces=True)
            if a.get("name", "").startswith(NAME_PREFIX)]
