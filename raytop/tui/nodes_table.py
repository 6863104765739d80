"""The node table of the node screen: one row per node of the cluster, most in trouble first by
default, sortable by a column (``o`` / ``O`` or a click on its header) like the operators table.

At 1,000 nodes only the rows on screen are drawn (``RowTable``); the columns have fixed widths,
so no cell off screen is formatted to size them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.reactive import reactive

from raytop.format import NA, fmt_bytes, fmt_count, fmt_percent, fraction
from raytop.model import NodeStats, sum_known
from raytop.tui import sorting
from raytop.tui.frame import EMPTY_FRAME, Frame
from raytop.tui.row_table import Column, RowTable
from raytop.tui.sorting import SortOrder, known_first, sort_mark
from raytop.tui.trouble import NO_TROUBLE, Trouble, troubles_of, worst_first

TROUBLE = "Trouble"
COLUMNS = (Column("Node", "Node", 22), Column("Alive", "Alive", 5),
           Column("Store", "Store used/cap", 18), Column("Spilled", "Spilled", 7),
           Column("Heap", "Heap", 7), Column("CPU", "CPU", 5), Column("Mem", "Mem", 13),
           Column("GPUs", "GPUs util/mem", 20), Column("Workers", "Workers", 7),
           Column(TROUBLE, TROUBLE, 40))


BY_TROUBLE = SortOrder(TROUBLE, descending=True)  # the default: most in trouble first


def gpu_mean_util(node: NodeStats) -> float | None:
    utils = [g.util_percent for g in node.gpus if g.util_percent is not None]
    return sum(utils) / len(utils) if utils else None


SortValue = Callable[[NodeStats, Trouble], Any]
SORT_VALUES: dict[str, SortValue] = {  # (node, its trouble) -> what its column sorts by
    "Node": lambda n, t: n.ip or n.node_id,
    "Alive": lambda n, t: not n.alive,  # descending: the dead first
    "Store": lambda n, t: fraction(n.object_store.used_bytes, n.object_store.capacity_bytes),
    "Spilled": lambda n, t: n.object_store.spilled_bytes,
    "Heap": lambda n, t: n.heap_bytes,
    "CPU": lambda n, t: n.cpu_percent,
    "Mem": lambda n, t: n.mem_used_bytes,
    "GPUs": lambda n, t: gpu_mean_util(n),
    "Workers": lambda n, t: n.num_workers,
    TROUBLE: lambda n, t: t.level,
}


def sort_nodes(nodes: Sequence[NodeStats], troubles: Sequence[Trouble],
               order: SortOrder) -> list[int]:
    """Indices of ``nodes`` in ``order``: unknown values last, ties in the table's order."""
    if order == BY_TROUBLE:
        return worst_first([t.level for t in troubles])
    value_of = SORT_VALUES.get(order.column, SORT_VALUES[TROUBLE])
    return known_first([value_of(n, t) for n, t in zip(nodes, troubles, strict=True)],
                       order.descending)


def first_order(column: str) -> SortOrder:
    """A first sort by ``column``: the node column by its address, A to Z; the others largest
    first (the trouble column is the default order)."""
    return SortOrder(column, descending=column != "Node")


def next_sort(order: SortOrder) -> SortOrder:
    """The sort ``o`` moves to: the next column; after the last one, by trouble again."""
    return sorting.next_sort(order, [c.key for c in COLUMNS], first_order)


def clicked_sort(order: SortOrder, column: str) -> SortOrder:
    return sorting.clicked_sort(order, column, first_order)


def node_name(node: NodeStats) -> str:
    return (node.ip or node.node_id[:12]) + (" (head)" if node.is_head else "")


def gpus_text(node: NodeStats) -> str:
    """"8× 75% 320G/640G": how many, their mean utilisation, memory used/total."""
    if not node.gpus:
        return NA
    used = sum_known(g.mem_used_bytes for g in node.gpus)
    total = sum_known(g.mem_total_bytes for g in node.gpus)
    return f"{len(node.gpus)}× {fmt_percent(gpu_mean_util(node))} {fmt_bytes(used)}/{fmt_bytes(total)}"


def store_text(node: NodeStats) -> str:
    store = node.object_store
    frac = fraction(store.used_bytes, store.capacity_bytes)
    pct = NA if frac is None else f"{frac * 100:.0f}%"
    return f"{fmt_bytes(store.used_bytes)}/{fmt_bytes(store.capacity_bytes)} {pct}"


def node_cells(node: NodeStats, trouble: Trouble) -> list:
    """The cells of a node's row, in ``COLUMNS``' order."""
    spilled = node.object_store.spilled_bytes
    level = trouble.level
    return [
        Text(node_name(node), style="bold" if node.alive else "dim strike"),
        Text("yes") if node.alive else Text("dead", style="bold red"),
        store_text(node),
        Text(fmt_bytes(spilled), style="red" if spilled else ""),
        fmt_bytes(node.heap_bytes),
        fmt_percent(node.cpu_percent),
        f"{fmt_bytes(node.mem_used_bytes)}/{fmt_bytes(node.mem_total_bytes)}",
        gpus_text(node),
        fmt_count(node.num_workers),
        Text(", ".join(trouble.reasons),
             style="bold red" if level >= 1 else "yellow" if trouble.reasons else ""),
    ]


class NodesTable(RowTable):
    """Rows keyed by node id; the cursor stays on its node as the order changes. ``frame`` is
    data-bound to the node screen's, ``sort`` is the table's own; either change re-shows it."""

    frame: reactive[Frame] = reactive(EMPTY_FRAME, init=False)
    sort: reactive[SortOrder] = reactive(BY_TROUBLE, init=False)

    def watch_frame(self) -> None:
        self._show()

    def watch_sort(self) -> None:
        self._show()

    def cycle_sort(self) -> None:
        self.sort = next_sort(self.sort)

    def reverse_sort(self) -> None:
        self.sort = SortOrder(self.sort.column, not self.sort.descending)

    def on_row_table_header_clicked(self, event: RowTable.HeaderClicked) -> None:
        event.stop()
        self.sort = clicked_sort(self.sort, event.column)

    def header_label(self, column: Column) -> str:
        return column.label + sort_mark(self.sort, column.key)

    def _show(self) -> None:
        nodes = self.frame.snapshot.nodes
        troubles = troubles_of(self.frame)
        order = sort_nodes(nodes, troubles, self.sort)
        index = {node.node_id: i for i, node in enumerate(nodes)}

        def cells_of(key: str) -> list:  # called only for the rows drawn
            i = index[key]
            return node_cells(nodes[i], troubles[i] if i < len(troubles) else NO_TROUBLE)

        self.show(COLUMNS, [nodes[i].node_id for i in order], cells_of)
