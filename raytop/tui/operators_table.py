"""The operators table: one row per physical operator, the bottleneck highlighted, sortable by a
column (pipeline order by default)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.reactive import reactive

from raytop.format import NA, fmt_bytes, fmt_count
from raytop.model import DatasetStats, OperatorStats, Resources, op_key, op_labels
from raytop.tui import derive, sorting
from raytop.tui.frame import EMPTY_FRAME, Frame
from raytop.tui.row_table import CELL_PAD, Column, RowTable
from raytop.tui.sorting import SortOrder, known_first

POLICY_SHORT = {"ResourceBudget": "budget", "ConcurrencyCap": "cap",
                "DownstreamCapacity": "downstream"}
POLICY_STYLE = {"ResourceBudget": "bold red", "ConcurrencyCap": "yellow",
                "DownstreamCapacity": "magenta"}
NARROW = ("Operator", "Kind", "Run", "Actors", "In q", "Out q", "Rows/s", "Backpressure")
WIDE = ("Operator", "Kind", "Fused", "Run", "Actors", "In q", "Out q", "Rows/s",
        "Heap", "GPU mem", "Backpressure", "Usage/budget")
WIDE_FROM = 150
COMPACT = ("Operator", "Run", "Actors", "In q", "Out q", "Rows/s", "Backpressure")
COMPACT_BELOW = 90  # the kind shows anyway: only actor pools have an Actors value
OPERATOR = "Operator"  # the first column of each layout


def queue_text(blocks: int | None, size: int | None) -> str:
    if blocks is None and size is None:
        return NA
    return f"{fmt_count(blocks)}·{fmt_bytes(size)}"


def backpressure_text(flags: Sequence[str]) -> Text:
    text = Text()
    for i, flag in enumerate(flags):
        kind, _, policy = flag.partition(":")
        if i:
            text.append(" ")
        text.append(f"{'out' if kind == 'outputs' else kind}({POLICY_SHORT.get(policy, policy)})",
                    style=POLICY_STYLE.get(policy, "cyan"))
    return text


def usage_text(usage: Resources | None, budget: Resources | None) -> str:
    if usage is None:
        return NA

    def pair(u, b, fmt) -> str:
        return f"{fmt(u)}/{fmt(b) if b is not None else '∞'}"

    b = budget or Resources()
    num = lambda v: NA if v is None else f"{v:g}"  # noqa: E731
    parts = [f"cpu {pair(usage.cpu, b.cpu, num)}"]
    if usage.gpu:
        parts.append(f"gpu {pair(usage.gpu, b.gpu, num)}")
    parts.append(f"store {pair(usage.object_store_bytes, b.object_store_bytes, fmt_bytes)}")
    return " ".join(parts)


def _cell_width(value) -> int:
    return value.cell_len if isinstance(value, Text) else cell_len(str(value))


def truncate_middle(text: str, width: int) -> str:
    """Fused names differ at both ends ("Read->...->Model"), so cut in the middle."""
    if len(text) <= width:
        return text
    if width < 5:
        return text[:width]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def truncate_label(label: str, width: int) -> str:
    """Cut in the middle but keep a trailing "#index": it tells same-named operators apart."""
    head, sep, index = label.rpartition(" #")
    if sep and index.isdigit() and len(label) > width:
        return truncate_middle(head, max(1, width - len(sep + index))) + sep + index
    return truncate_middle(label, width)


def name_cell(op: OperatorStats, label: str, bottleneck: str | None, width: int) -> Text:
    """The operator's label cut to ``width``: "▶" on the bottleneck (an op key), dim once finished."""
    if op_key(op) == bottleneck:
        return Text("▶ " + truncate_label(label, width - 2), style="bold reverse red")
    name = Text(truncate_label(label, width))
    if op.state == "FINISHED":
        name.stylize("dim")
    return name


def frame_rate(frame: Frame, dataset_id: str, key: str) -> float | None:
    """The operator's rows/s: the frame's (computed off the UI thread), else from its history."""
    rates = frame.op_rates.get(dataset_id)
    if rates is not None and key in rates:
        return rates[key]
    return derive.op_rate(frame.history, dataset_id, key)


def figure_cells(op: OperatorStats, frame: Frame, dataset_id: str) -> dict[str, Any]:
    """Every column's cell but the operator's name."""
    rate = frame_rate(frame, dataset_id, op_key(op))
    actors = NA if op.actors is None else "/".join(
        NA if v is None else str(v) for v in (op.actors.running, op.actors.pending, op.actors.idle))
    return {
        "Kind": {"task": "task", "actor": "actor"}.get(op.compute, NA),
        "Fused": str(len(op.logical)) if op.logical else NA,
        "Run": NA if op.tasks_running is None else str(op.tasks_running),
        "Actors": "" if op.actors is None else actors,
        "In q": queue_text(op.queued_blocks, op.queued_bytes),
        "Out q": queue_text(op.produced_blocks, op.produced_bytes),
        "Rows/s": NA if rate is None else fmt_count(rate),
        "Heap": fmt_bytes(op.heap_bytes),
        "GPU mem": fmt_bytes(op.gpu_mem_bytes),
        "Backpressure": backpressure_text(op.backpressure),
        "Usage/budget": usage_text(op.usage, op.budget),
    }


def operator_cells(op: OperatorStats, frame: Frame, dataset_id: str, bottleneck: str | None,
                   columns: Sequence[str], name_width: int = 34, label: str | None = None) -> list:
    """``bottleneck`` is an op key; ``label`` the display name ("#index" when names repeat)."""
    values = figure_cells(op, frame, dataset_id)
    values[OPERATOR] = name_cell(op, label or op.name, bottleneck, name_width)
    return [values[c] for c in columns]



PIPELINE = SortOrder(OPERATOR)  # the default: the pipeline's order
SortValue = Callable[[OperatorStats, float | None], Any]
SORT_VALUES: dict[str, SortValue] = {  # (operator, its rows/s) -> what its column sorts by
    "Kind": lambda op, rate: op.compute,
    "Fused": lambda op, rate: len(op.logical) if op.logical else None,
    "Run": lambda op, rate: op.tasks_running,
    "Actors": lambda op, rate: op.actors.running if op.actors else None,
    "In q": lambda op, rate: op.queued_bytes if op.queued_bytes is not None else op.queued_blocks,
    "Out q": lambda op, rate: (op.produced_bytes if op.produced_bytes is not None
                               else op.produced_blocks),
    "Rows/s": lambda op, rate: rate,
    "Heap": lambda op, rate: op.heap_bytes,
    "GPU mem": lambda op, rate: op.gpu_mem_bytes,
    "Backpressure": lambda op, rate: len(op.backpressure),
    "Usage/budget": lambda op, rate: op.usage.object_store_bytes if op.usage else None,
}


def sort_operators(ops: Sequence[OperatorStats], order: SortOrder,
                   rate_of: Callable[[OperatorStats], float | None]) -> list[OperatorStats]:
    """``ops`` (pipeline order) in ``order``; unknown values last, ties in pipeline order."""
    value_of = SORT_VALUES.get(order.column)
    if value_of is None:
        return list(reversed(ops)) if order.descending else list(ops)
    return [ops[i] for i in known_first([value_of(op, rate_of(op)) for op in ops],
                                        order.descending)]


def first_order(column: str) -> SortOrder:
    """A first sort by ``column``: the pipeline's order for the operator column, else largest
    first."""
    return PIPELINE if column == OPERATOR else SortOrder(column, descending=True)


def next_sort(order: SortOrder, columns: Sequence[str]) -> SortOrder:
    """The sort ``o`` moves to: the next column shown, largest first; after the last one, the
    pipeline's order."""
    shown = [c for c in columns if c == OPERATOR or c in SORT_VALUES]
    return sorting.next_sort(order, shown, first_order)


def clicked_sort(order: SortOrder, column: str) -> SortOrder:
    return sorting.clicked_sort(order, column, first_order)


def sort_mark(order: SortOrder, column: str) -> str:
    return sorting.sort_mark(order, column, unmarked=PIPELINE)


class OperatorsTable(RowTable):
    """Rows keyed by op key (two operators of one name are two rows); the cursor stays on its
    operator. ``frame``, ``dataset_id``, ``filter_text`` and ``sort`` are reactives (the first two
    data-bound to the overview screen's); any change re-shows the table. Its border title names the
    filter, its subtitle the bottleneck.

    What it shows is a function of the frame, the filter, the sort and the width it has: columns
    are sized when shown (the widest cell), and the figures' columns only widen while the rows and
    the width stay (no jitter), measured afresh when either changes; the operator's name gets what
    the others leave."""

    frame: reactive[Frame] = reactive(EMPTY_FRAME, init=False)
    dataset_id: reactive[str | None] = reactive(None, init=False)
    filter_text: reactive[str] = reactive("", init=False)
    sort: reactive[SortOrder] = reactive(PIPELINE, init=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._room = 0  # the width the columns were laid out for
        self._widths: dict[str, int] = {}

    def selected_operator(self) -> str | None:
        return self.selected_key()

    def watch_frame(self) -> None:
        self._show()

    def watch_dataset_id(self) -> None:
        self._show()

    def watch_filter_text(self) -> None:
        self._show()

    def watch_sort(self) -> None:
        self._show()

    def on_resize(self) -> None:
        self._show()  # a new width lays the columns out afresh; a new height changes nothing

    def cycle_sort(self) -> None:
        self.sort = next_sort(self.sort, [c.key for c in self.columns] or NARROW)

    def reverse_sort(self) -> None:
        self.sort = SortOrder(self.sort.column, not self.sort.descending)

    def on_row_table_header_clicked(self, event: RowTable.HeaderClicked) -> None:
        event.stop()
        self.sort = clicked_sort(self.sort, event.column)

    def header_label(self, column: Column) -> str:
        return column.label + sort_mark(self.sort, column.key)

    def _shown_operators(self, ds: DatasetStats | None, labels: dict) -> list[OperatorStats]:
        if ds is None:
            return []
        ops = [op for op in ds.operators if self.filter_text.lower() in labels[op_key(op)].lower()]
        return sort_operators(ops, self.sort,
                              lambda op: frame_rate(self.frame, ds.dataset_id, op_key(op)))

    def _show(self) -> None:
        frame = self.frame
        ds = derive.pick_dataset(frame.snapshot, self.dataset_id)
        width = self.size.width or self.app.size.width
        names = WIDE if width >= WIDE_FROM else NARROW if width >= COMPACT_BELOW else COMPACT
        labels = op_labels(ds.operators) if ds is not None else {}
        ops = self._shown_operators(ds, labels)
        keys = tuple(op_key(op) for op in ops)
        room = self.scrollable_content_region.width or self.app.size.width - 4
        fresh = (names, sorted(keys), room) != (tuple(c.key for c in self.columns),
                                                sorted(self.keys), self._room)
        bneck = derive.bottleneck(ds, frame)
        self.border_title = f"Operators — filter: {self.filter_text}" if self.filter_text else "Operators"
        self.border_subtitle = f"bottleneck ▶ {bneck.operator}: {bneck.why}" if bneck else ""
        figures = [figure_cells(op, frame, ds.dataset_id) for op in ops] if ds is not None else []
        widths = {c: max([cell_len(c + sort_mark(self.sort, c)), *(_cell_width(f[c]) for f in figures)])
                  for c in names if c != OPERATOR}
        if not fresh:  # the same rows at the same width: columns only widen
            widths = {c: max(w, self._widths.get(c, 0)) for c, w in widths.items()}
        name_width = self._name_width(room, widths)
        rows = {op_key(op): [name_cell(op, labels[op_key(op)], bneck.key if bneck else None,
                                       name_width) if c == OPERATOR else f[c] for c in names]
                for op, f in zip(ops, figures, strict=True)}
        widths[OPERATOR] = max([cell_len(OPERATOR + sort_mark(self.sort, OPERATOR)),
                                *(_cell_width(r[0]) for r in rows.values())])
        self._widths, self._room = widths, room
        self.show([Column(c, c, widths[c]) for c in names], keys, rows.__getitem__)

    def _name_width(self, room: int, widths: dict[str, int]) -> int:
        """What is left for the operator name once the other columns have their width."""
        others = sum(w + 2 * CELL_PAD for w in widths.values())
        return max(14, min(48, room - others - 2 * CELL_PAD - 1))
