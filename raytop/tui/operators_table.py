"""The operators table: one row per physical operator, the bottleneck highlighted."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from raytop.format import NA, fmt_bytes, fmt_count
from raytop.model import OperatorStats, Resources, op_key, op_labels
from raytop.tui import derive
from raytop.tui.frame import EMPTY_FRAME, Frame

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


def queue_text(blocks: Optional[int], size: Optional[int]) -> str:
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


def usage_text(usage: Optional[Resources], budget: Optional[Resources]) -> str:
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


def name_cell(op: OperatorStats, label: str, bottleneck: Optional[str], width: int) -> Text:
    """The operator's label cut to ``width``: "▶" on the bottleneck (an op key), dim once finished."""
    if op_key(op) == bottleneck:
        return Text("▶ " + truncate_label(label, width - 2), style="bold reverse red")
    name = Text(truncate_label(label, width))
    if op.state == "FINISHED":
        name.stylize("dim")
    return name


def figure_cells(op: OperatorStats, frame: Frame, dataset_id: str) -> dict[str, Any]:
    """Every column's cell but the operator's name."""
    rate = derive.op_rate(frame.history, dataset_id, op_key(op))
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


def operator_cells(op: OperatorStats, frame: Frame, dataset_id: str, bottleneck: Optional[str],
                   columns: Sequence[str], name_width: int = 34, label: Optional[str] = None) -> list:
    """``bottleneck`` is an op key; ``label`` the display name ("#index" when names repeat)."""
    values = figure_cells(op, frame, dataset_id)
    values[OPERATOR] = name_cell(op, label or op.name, bottleneck, name_width)
    return [values[c] for c in columns]


class OperatorsTable(DataTable):
    """Rows keyed by op key (two operators of one name are two rows); cells updated in place so
    the cursor stays put. ``frame``, ``dataset_id`` and ``filter_text`` are reactives (the first
    two data-bound to the overview screen's); any change re-shows the table. Its border title
    names the filter, its subtitle the bottleneck.

    What it shows is a function of the frame, the filter and the width it has: columns are sized
    when shown (a fixed width each, the widest cell), never on a later idle; the figures' columns
    only widen while the rows and the width stay (no jitter), and are measured afresh when either
    changes; the operator's name gets what the others leave."""

    BINDINGS = [Binding("j", "cursor_down", "Down", show=False),
                Binding("k", "cursor_up", "Up", show=False)]

    frame: reactive[Frame] = reactive(EMPTY_FRAME, init=False)
    dataset_id: reactive[Optional[str]] = reactive(None, init=False)
    filter_text: reactive[str] = reactive("", init=False)

    def __init__(self, *, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._columns: tuple[str, ...] = ()
        self._keys: tuple[str, ...] = ()
        self._room = 0  # the width the columns were laid out for
        self._rows: list = []  # the cells last shown, to update only what changed

    def selected_operator(self) -> Optional[str]:
        if not self._keys or self.cursor_row < 0 or self.cursor_row >= len(self._keys):
            return None
        return self._keys[self.cursor_row]

    def watch_frame(self) -> None:
        self._show()

    def watch_dataset_id(self) -> None:
        self._show()

    def watch_filter_text(self) -> None:
        self._show()

    def on_resize(self) -> None:
        self._show()  # a new width lays the columns out afresh; a new height changes nothing

    def _show(self) -> None:
        frame = self.frame
        ds = derive.pick_dataset(frame.snapshot, self.dataset_id)
        width = self.size.width or self.app.size.width
        columns = WIDE if width >= WIDE_FROM else NARROW if width >= COMPACT_BELOW else COMPACT
        labels = op_labels(ds.operators) if ds is not None else {}
        ops = [] if ds is None else [
            op for op in ds.operators if self.filter_text.lower() in labels[op_key(op)].lower()]
        keys = tuple(op_key(op) for op in ops)
        room = self.scrollable_content_region.width or self.app.size.width - 4
        fresh = (columns, keys, room) != (self._columns, self._keys, self._room)
        bneck = derive.bottleneck(ds, frame)
        self.border_title = f"Operators — filter: {self.filter_text}" if self.filter_text else "Operators"
        self.border_subtitle = f"bottleneck ▶ {bneck.operator}: {bneck.why}" if bneck else ""
        figures = [figure_cells(op, frame, ds.dataset_id) for op in ops] if ds is not None else []
        widths = {c: max([cell_len(c), *(_cell_width(f[c]) for f in figures)])
                  for c in columns if c != OPERATOR}
        if not fresh:  # the same rows at the same width: columns only widen
            widths = {c: max(w, self.columns[ColumnKey(c)].width) for c, w in widths.items()}
        name_width = self._name_width(room, widths)
        rows = [[name_cell(op, labels[op_key(op)], bneck.key if bneck else None, name_width)
                 if c == OPERATOR else f[c] for c in columns] for op, f in zip(ops, figures, strict=True)]
        widths[OPERATOR] = max([cell_len(OPERATOR), *(_cell_width(r[0]) for r in rows)])
        if fresh:
            self._rebuild(keys, columns, rows, widths)
        else:
            self._update_rows(columns, rows, widths)
        self._room = room

    def _update_rows(self, columns: Sequence[str], rows: list, widths: dict[str, int]) -> None:
        """Only the cells that changed, after the columns took their new widths (so no repaint
        can show a cell at its column's old width)."""
        resized = set()
        for column in columns:
            col = self.columns[ColumnKey(column)]
            if col.width != widths[column]:
                col.width = widths[column]
                resized.add(column)
        for key, cells, before in zip(self._keys, rows, self._rows, strict=True):
            for column, value, old in zip(columns, cells, before, strict=True):
                if value != old:  # update_width: the scrollable size follows the new widths
                    self.update_cell(key, column, value, update_width=column in resized)
        self._rows = rows

    def _rebuild(self, keys: Sequence[str], columns: Sequence[str], rows: list,
                 widths: dict[str, int]) -> None:
        selected = self.selected_operator()
        self.clear(columns=True)
        for label in columns:
            self.add_column(label, key=label, width=widths[label])
        for key, cells in zip(keys, rows, strict=True):
            self.add_row(*cells, key=key)
        self._columns, self._keys, self._rows = tuple(columns), tuple(keys), rows
        if selected in keys:
            self.move_cursor(row=keys.index(selected), animate=False)

    def _name_width(self, room: int, widths: dict[str, int]) -> int:
        """What is left for the operator name once the other columns have their width."""
        others = sum(w + 2 * self.cell_padding for w in widths.values())
        return max(14, min(48, room - others - 2 * self.cell_padding - 1))
