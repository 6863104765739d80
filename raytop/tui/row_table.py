"""A table that renders only the rows on screen: ``RowTable``, the base of the operators table and
the node list.

Textual's DataTable renders every visible cell through rich's console on each update (about 12
renders a row); here a row is one ``Text`` cut to the column widths and rendered once into a
``Strip``, kept until its cells change. Rows come as keys in display order and a function giving a
key's cells, which is only called for the rows scrolled into view, so a thousand rows cost what
the forty on screen cost. The header (line 0) stays put; the cursor is a row, kept on its key when
the rows are reordered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text
CELL_PAD = 1  # blank cells each side of a cell


class Column(NamedTuple):
    key: str
    label: str
    width: int  # cells, without the padding


def fit_cell(cell: Cell, width: int) -> Text:
    """``cell`` as a Text of exactly ``width`` cells: cut with an ellipsis, or padded."""
    text = cell.copy() if isinstance(cell, Text) else Text(cell)
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


def row_segments(cells: Sequence[Cell], columns: Sequence[Column], console: Console) -> list:
    """One table line as segments: each cell fitted to its column, a blank either side. Plain
    cells become one segment each; only styled ones go through rich's rendering."""
    pad = " " * CELL_PAD
    segments: list[Segment] = []
    for cell, column in zip(cells, columns, strict=True):
        if isinstance(cell, Text) and (cell.spans or cell.style):
            segments.append(Segment(pad))
            segments.extend(fit_cell(cell, column.width).render(console, end=""))
            segments.append(Segment(pad))
            continue
        plain = str(cell)
        if cell_len(plain) > column.width:
            plain = set_cell_size(plain, column.width - 1) + "…" if column.width else ""
        segments.append(Segment(pad + set_cell_size(plain, column.width) + pad))
    return segments


class RowTable(ScrollView, can_focus=True):
    """Columns and keyed rows; ``show(columns, keys, cells_of)`` replaces them.

    ``cells_of(key)`` is called only for rows drawn, and once per ``show`` at most: a row whose
    cells equal the ones last drawn keeps its rendered line. Enter (or a click on the row under
    the cursor) posts ``Selected``; a click on a column's header posts ``HeaderClicked``.
    """

    COMPONENT_CLASSES = {"row-table--header", "row-table--cursor"}
    DEFAULT_CSS = """
    RowTable {
        background: $surface;
        color: $foreground;
        & > .row-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .row-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .row-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .row-table--header { background-tint: $foreground 5%; }
        }
    }
    """
    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move_to(0)", "First", show=False),
        Binding("end", "move_to(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    class Selected(Message):
        """A row was chosen (Enter, or a click on the row under the cursor)."""

        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> RowTable:
            return self.table

    class HeaderClicked(Message):
        def __init__(self, table: RowTable, column: str) -> None:
            super().__init__()
            self.table, self.column = table, column

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns: tuple[Column, ...] = ()
        self.keys: tuple[str, ...] = ()
        self._cells_of: Callable[[str], Sequence[Cell]] = lambda key: ()
        self._cells: dict[str, tuple] = {}  # the cells of this show, as asked for
        self._drawn: dict[str, tuple[tuple, Strip]] = {}  # key -> (cells, their line)
        self._header: Strip | None = None
        self.cursor_row = 0

    # -- content --------------------------------------------------------------------------
    def show(self, columns: Sequence[Column], keys: Sequence[str],
             cells_of: Callable[[str], Sequence[Cell]]) -> None:
        """New columns and rows; the cursor stays on its key when that key is still shown."""
        selected = self.selected_key()
        columns, keys = tuple(columns), tuple(keys)
        if columns != self.columns:
            self.columns, self._drawn = columns, {}
        self._header = None  # one line: redrawn each show (a sort mark may have moved)
        self.keys, self._cells_of, self._cells = keys, cells_of, {}
        if selected in keys:
            self.cursor_row = keys.index(selected)
        self.cursor_row = max(0, min(self.cursor_row, len(keys) - 1))
        if len(self._drawn) > 4 * len(keys) + 64:
            self._drawn = {k: v for k, v in self._drawn.items() if k in set(keys)}
        self.virtual_size = Size(self.total_width, len(keys) + 1)
        self.refresh()

    @property
    def total_width(self) -> int:
        return sum(c.width + 2 * CELL_PAD for c in self.columns)

    @property
    def row_count(self) -> int:
        return len(self.keys)

    def cells(self, key: str) -> tuple:
        """The cells of row ``key`` as shown (asked for from ``cells_of`` once per show)."""
        cells = self._cells.get(key)
        if cells is None:
            cells = self._cells[key] = tuple(self._cells_of(key))
        return cells

    def cell(self, key: str, column: str) -> Cell:
        index = [c.key for c in self.columns].index(column)
        return self.cells(key)[index]

    def selected_key(self) -> str | None:
        if not self.keys or not 0 <= self.cursor_row < len(self.keys):
            return None
        return self.keys[self.cursor_row]

    # -- drawing --------------------------------------------------------------------------
    def header_label(self, column: Column) -> Cell:
        """What the header shows for ``column`` (subclasses add a sort mark)."""
        return column.label

    def _line(self, cells: Sequence[Cell]) -> Strip:
        return Strip(row_segments(cells, self.columns, self.app.console), self.total_width)

    def _row_strip(self, key: str) -> Strip:
        cells = self.cells(key)
        drawn = self._drawn.get(key)
        if drawn is not None and drawn[0] == cells:
            return drawn[1]
        strip = self._line(cells)
        self._drawn[key] = (cells, strip)
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            if self._header is None:
                labels = [self.header_label(c) for c in self.columns]
                self._header = self._line(labels)
            style = base + self.get_component_rich_style("row-table--header")
            return self._styled(self._header, scroll_x, width, style, None)
        index = scroll_y + y - 1
        if index >= len(self.keys):
            return Strip.blank(width, base)
        cursor = self.get_component_rich_style("row-table--cursor") \
            if index == self.cursor_row else None
        return self._styled(self._row_strip(self.keys[index]), scroll_x, width, base, cursor)

    @staticmethod
    def _styled(strip: Strip, scroll_x: int, width: int, base: Style,
                over: Style | None) -> Strip:
        """``strip`` on ``base``, ``over`` (the cursor) on top, cut to the visible columns."""
        segments = Segment.apply_style(iter(strip), style=base, post_style=over)
        line = Strip(segments, strip.cell_length)
        return line.crop_extend(scroll_x, scroll_x + width, base + over if over else base)

    # -- cursor and mouse -----------------------------------------------------------------
    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_cursor(self, row: int) -> None:
        if not self.keys:
            return
        row = max(0, min(row, len(self.keys) - 1))
        if row != self.cursor_row:
            self.cursor_row = row
            self.refresh()
        top, rows = round(self.scroll_y), self._page_rows()
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + rows:
            self.scroll_to(y=row - rows + 1, animate=False)

    def action_move(self, delta: int) -> None:
        self.move_cursor(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * self._page_rows())

    def action_move_to(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else len(self.keys) - 1)

    def action_select(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.post_message(self.Selected(self, key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        if offset.y == 0:
            column = self._column_at(offset.x + round(self.scroll_x))
            if column is not None:
                self.post_message(self.HeaderClicked(self, column))
            return
        row = round(self.scroll_y) + offset.y - 1
        if row >= len(self.keys):
            return
        if row == self.cursor_row:
            self.action_select()
        else:
            self.move_cursor(row)

    def _column_at(self, x: int) -> str | None:
        for column in self.columns:
            x -= column.width + 2 * CELL_PAD
            if x < 0:
                return column.key
        return None
