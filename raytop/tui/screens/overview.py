"""The overview: header, GPU and memory panels, the operators table, advice, the script log
(``raytop run``), the scrubber (replay) and the sources line.

The screen's ``frame``, ``dataset_id``, ``mode`` and ``script_log`` reactives are data-bound to
the app's; its widgets are bound to the screen's, so assigning the app's reactives redraws them.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import var
from textual.widgets import Footer, Input, Log

from raytop.tui.advice import AdviceView
from raytop.tui.operators_table import OperatorsTable
from raytop.tui.panels import GpuPanel, HeaderBar, MemoryPanel, Mode, SourceLine
from raytop.tui.screens.base import FrameScreen
from raytop.tui.scrubber import Scrubber

NARROW_BELOW = 70
SHORT_BELOW = 30
TINY_BELOW = 20
TABLE_SHARE = 0.5  # the operators table takes at most this share of the screen's height
TABLE_MIN = 5  # lines, border included (as in raytop.tcss)
ADVICE_MIN = 4  # lines the table leaves the advice panel (#bottom's min-height in raytop.tcss)
FIXED = "#header, #top, #filter, #scrubber, #sources, Footer"  # all but the table and #bottom


def table_max_height(screen_height: int, others: int) -> int:
    """The most lines the operators table may take: ``TABLE_SHARE`` of the screen, and no more
    than leaves the advice panel ``ADVICE_MIN`` once the other widgets (``others`` lines) have
    theirs; never less than ``TABLE_MIN``."""
    return max(TABLE_MIN, min(int(screen_height * TABLE_SHARE), screen_height - others - ADVICE_MIN))


@dataclass(frozen=True)
class ScriptLog:
    """The tail of the script's output and the log panel's title."""

    lines: tuple[str, ...]
    title: str


class OverviewScreen(FrameScreen):
    BINDINGS = [
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("o", "sort", "Sort", show=False),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
    ]

    dataset_id: var[str | None] = var(None, init=False)
    mode: var[Mode] = var(Mode(), init=False)
    script_log: var[ScriptLog | None] = var(None, init=False)

    def __init__(self, *, title: str, with_log: bool, with_scrubber: bool) -> None:
        super().__init__()
        self.view_title, self.with_log, self.with_scrubber = title, with_log, with_scrubber
        self._table_cap: int | None = None  # the operators table's max-height, as set

    def compose(self) -> ComposeResult:
        shown = (OverviewScreen.frame, OverviewScreen.dataset_id)
        yield HeaderBar(self.view_title, id="header").data_bind(*shown, OverviewScreen.mode)
        with Horizontal(id="top"):
            with VerticalScroll(id="gpu-box", classes="panel") as box:
                box.border_title = "GPU"
                yield GpuPanel(id="gpu").data_bind(*shown)
            with VerticalScroll(id="memory-box", classes="panel") as box:
                box.border_title = "Memory"
                yield MemoryPanel(id="memory").data_bind(*shown)
        yield OperatorsTable(id="operators", classes="panel").data_bind(*shown)
        yield Input(placeholder="filter operators (Enter keeps, Esc clears)", id="filter")
        with Horizontal(id="bottom"):
            with VerticalScroll(id="advice-box", classes="panel") as box:
                box.border_title = "Advice"
                yield AdviceView(id="advice").data_bind(*shown)
            if self.with_log:
                with VerticalScroll(id="log-box", classes="panel") as box:
                    box.border_title = "Script log"
                    yield Log(id="log", max_lines=2000)
        if self.with_scrubber:
            yield Scrubber(id="scrubber").data_bind(OverviewScreen.frame)
        yield SourceLine(id="sources").data_bind(*shown)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OperatorsTable).focus()
        self._apply_size(self.app.size.width, self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        self.set_class(width < NARROW_BELOW, "narrow")
        self.set_class(height < SHORT_BELOW, "short")
        self.set_class(height < TINY_BELOW, "tiny")
        self.call_after_refresh(self.fit_table)

    def watch_frame(self) -> None:
        # the panels above the table may have grown or shrunk with the frame
        self.call_after_refresh(self.fit_table)

    # -- the room each panel gets -------------------------------------------------------------
    def fit_table(self) -> None:
        """Bound the operators table's height (it is as high as its rows: ``height: auto``) by
        ``table_max_height`` for the screen and the widgets laid out above and below it; the
        advice panel (``#bottom``, ``1fr``) takes the rest. Called after each layout that can
        change them: a resize, a frame (the number of operators, the panels' heights), the filter
        opening or closing. On a tiny screen the advice panel is hidden and the table takes all."""
        if not self.is_mounted:
            return
        table = self.query_one(OperatorsTable)
        if self.has_class("tiny"):
            cap = None
        else:
            others = sum(w.outer_size.height for w in self.query(FIXED) if w.display)
            cap = table_max_height(self.size.height, others)
        if cap != self._table_cap:
            self._table_cap = cap
            table.styles.max_height = cap

    def watch_script_log(self, script_log: ScriptLog | None) -> None:
        if script_log is None or not self.with_log:
            return
        log = self.query_one(Log)
        log.clear()
        log.write_lines(script_log.lines)
        self.query_one("#log-box").border_title = script_log.title

    # -- the operators table's order ---------------------------------------------------------
    def action_sort(self) -> None:
        """``o``: sort the operators by the next column shown (largest first); after the last
        one, back to the plan's order."""
        self.query_one(OperatorsTable).cycle_sort()

    def action_reverse_sort(self) -> None:
        """``O``: the same column the other way (unknown values stay last)."""
        self.query_one(OperatorsTable).reverse_sort()

    # -- the operators filter ---------------------------------------------------------------
    def open_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        self.call_after_refresh(self.fit_table)
        box.value = self.query_one(OperatorsTable).filter_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(OperatorsTable).filter_text = event.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.remove_class("visible")
            self.call_after_refresh(self.fit_table)
            self.query_one(OperatorsTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        table = self.query_one(OperatorsTable)
        if box.has_class("visible") or table.filter_text:
            box.value = ""
            table.filter_text = ""
            box.remove_class("visible")
            self.call_after_refresh(self.fit_table)
            table.focus()
