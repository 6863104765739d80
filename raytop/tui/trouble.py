"""How much trouble a node is in, so that at hundreds of nodes the view lists the worst first.

Pure functions over ``NodeStats`` (no Textual here). A node's trouble is its worst part, each a
level where 1.0 is "full":

- 2.0: dead while it still holds work (workers, heap, objects in its store, GPU processes);
- 1.0: it spilled objects to disk (the store overflowed), or a GPU stopped answering;
- used/capacity of its object store, its workers' heap over the node's memory, and the fullest
  GPU's memory, as they are;
- ``IDLE_HELD`` (0.9): a GPU idle while memory on it is held, a device paid for and unused.

An unknown reading adds no trouble (it is never taken for a zero or a full store either). Nodes
of equal trouble keep the node table's order; the head node is ranked like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from raytop.format import fmt_bytes, fraction
from raytop.model import GpuStats, NodeStats

if TYPE_CHECKING:
    from raytop.tui.frame import Frame

DEAD_WITH_WORK = 2.0
OVERFLOWED = 1.0
IDLE_HELD = 0.9
IDLE_UTIL = 5.0  # % utilisation at or below which a GPU is idle
HELD_BYTES = 1 << 30  # GPU memory held by processes (or in use) from which it counts as held
SAY_FROM = 0.8  # a fullness is named among the reasons from this level


class Trouble(NamedTuple):
    """``level`` the worst part (0: none seen), ``gpu_level`` the worst of the GPUs' parts;
    ``reasons`` the parts worth naming, worst first, in a few words each."""

    level: float = 0.0
    gpu_level: float = 0.0
    reasons: tuple[str, ...] = ()


NO_TROUBLE = Trouble()


def holds_work(node: NodeStats) -> bool:
    """Workers, heap, stored objects or GPU processes on the node, as last read."""
    return bool(node.num_workers or node.heap_bytes or node.object_store.used_bytes
                or any(g.processes for g in node.gpus))


def _held_bytes(gpu: GpuStats) -> int | None:
    """GPU memory held: its processes' when they are listed, else what is in use."""
    if gpu.processes:
        known = [p.gpu_mem_bytes for p in gpu.processes if p.gpu_mem_bytes is not None]
        return sum(known) if known else gpu.mem_used_bytes
    return gpu.mem_used_bytes


def _idle_holding(gpu: GpuStats) -> bool:
    if gpu.util_percent is None or gpu.util_percent > IDLE_UTIL:
        return False
    held = _held_bytes(gpu)
    return held is not None and held >= HELD_BYTES


def gpu_parts(gpu: GpuStats) -> list[tuple[float, str]]:
    """(level, reason) of one GPU's troubles; reasons are "" when not worth naming."""
    if gpu.lost:
        return [(OVERFLOWED, f"GPU{gpu.index} lost")]
    parts: list[tuple[float, str]] = []
    mem = fraction(gpu.mem_used_bytes, gpu.mem_total_bytes)
    if mem is not None:
        parts.append((mem, f"GPU{gpu.index} mem {mem * 100:.0f}%" if mem >= SAY_FROM else ""))
    if _idle_holding(gpu):
        parts.append((IDLE_HELD, f"GPU{gpu.index} idle, {fmt_bytes(_held_bytes(gpu))} held"))
    return parts


def node_parts(node: NodeStats) -> list[tuple[float, str]]:
    """(level, reason) of the node's troubles but its GPUs'."""
    store = node.object_store
    parts: list[tuple[float, str]] = []
    if not node.alive and holds_work(node):
        workers = f", {node.num_workers} workers" if node.num_workers else ""
        parts.append((DEAD_WITH_WORK, f"dead holding work{workers}"))
    if store.spilled_bytes:
        parts.append((OVERFLOWED, f"spilled {fmt_bytes(store.spilled_bytes)}"))
    full = fraction(store.used_bytes, store.capacity_bytes)
    if full is not None:
        parts.append((full, f"store {full * 100:.0f}%" if full >= SAY_FROM else ""))
    heap = fraction(node.heap_bytes, node.mem_total_bytes)
    if heap is not None:
        parts.append((heap, f"heap {heap * 100:.0f}% of mem" if heap >= SAY_FROM else ""))
    return parts


# The levels alone, as the parts give them, without their words: a thousand nodes of eight GPUs
# each are ranked every snapshot, and most have nothing worth naming.
def _gpu_level(gpu: GpuStats) -> float:
    if gpu.lost:
        return OVERFLOWED
    used, total = gpu.mem_used_bytes, gpu.mem_total_bytes
    mem = max(0.0, min(1.0, used / total)) if used is not None and total else 0.0
    util = gpu.util_percent
    idle = util is not None and util <= IDLE_UTIL and mem < IDLE_HELD and _idle_holding(gpu)
    return IDLE_HELD if idle else mem


def _node_level(node: NodeStats) -> float:
    if not node.alive and holds_work(node):
        return DEAD_WITH_WORK
    store = node.object_store
    if store.spilled_bytes:
        return OVERFLOWED
    return max(fraction(store.used_bytes, store.capacity_bytes) or 0.0,
               fraction(node.heap_bytes, node.mem_total_bytes) or 0.0)


def node_trouble(node: NodeStats) -> Trouble:
    gpu_level = max((_gpu_level(g) for g in node.gpus), default=0.0)
    level = max(_node_level(node), gpu_level)
    if level < SAY_FROM:  # every flag is above it: no part is worth naming
        return Trouble(level, gpu_level) if level else NO_TROUBLE
    parts = node_parts(node) + [part for g in node.gpus for part in gpu_parts(g)]
    reasons = tuple(why for _, why in sorted(parts, key=lambda p: -p[0]) if why)
    return Trouble(level, gpu_level, reasons)


def worst_first(levels: Sequence[float]) -> list[int]:
    """Indices of ``levels`` from the highest; equal levels keep their order (a stable sort)."""
    return sorted(range(len(levels)), key=lambda i: -levels[i])


def nodes_by_trouble(nodes: Sequence[NodeStats],
                     troubles: Sequence[Trouble] | None = None) -> list[NodeStats]:
    """``nodes`` most in trouble first, ties in table order; ``troubles`` (one per node) when
    they were computed already."""
    troubles = troubles if troubles is not None else [node_trouble(n) for n in nodes]
    return [nodes[i] for i in worst_first([t.level for t in troubles])]


def gpu_nodes_by_trouble(nodes: Sequence[NodeStats],
                         troubles: Sequence[Trouble] | None = None) -> list[NodeStats]:
    """The nodes with GPUs, those whose GPUs are most in trouble first, ties in table order."""
    troubles = troubles if troubles is not None else [node_trouble(n) for n in nodes]
    order = worst_first([t.gpu_level for t in troubles])
    return [nodes[i] for i in order if nodes[i].gpus]


def troubles_of(frame: Frame) -> tuple[Trouble, ...]:
    """One ``Trouble`` per node of the frame's snapshot: the frame's (computed off the UI
    thread by the frame builder), else computed here."""
    nodes = frame.snapshot.nodes
    if len(frame.node_troubles) == len(nodes):
        return frame.node_troubles
    return tuple(node_trouble(n) for n in nodes)
