"""Plan screen: the physical operators as a graph (branches, zip/union/join points), the logical
operators fused into each, each edge's live queue and why it was not fused, each operator's rows/s
(see ``raytop.tui.plan_graph_view``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from raytop.format import NA
from raytop.model import DatasetStats, Snapshot
from raytop.tui import derive
from raytop.tui.frame import Frame
from raytop.tui.plan_graph_view import render_graph
from raytop.tui.screens.base import FrameScreen


def render_plan(ds: DatasetStats, analysis: Any, analysis_available: bool,
                history: Sequence[Snapshot] = (), bottleneck: str | None = None,
                width: int = 100) -> Text:
    """The plan graph (``plan_graph_view``), with a note on what is not known."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if ds.plan is None:
        text.append("The logical plan was not captured (attached without the probe): physical "
                    "operators and the logical operators fused into them.\n\n", style="dim")
    elif analysis is None:
        why = ("plan analysis not available yet" if not analysis_available
               else "the plan analysis failed on this plan")
        text.append(f"Fused groups as Ray planned them; why-not-fused reasons: {why}.\n\n", style="dim")
    text.append_text(render_graph(ds, analysis, history, bottleneck, width))
    return text


class PlanScreen(FrameScreen):
    """The plan of one dataset (the one shown when the screen opened), redrawn per frame."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, dataset_id: str | None) -> None:
        super().__init__()
        self.dataset_id = dataset_id
        self._shown: Text | None = None  # the body last shown

    def compose(self) -> ComposeResult:
        yield Static(id="plan-title")
        with VerticalScroll(id="plan-body"):
            yield Static(id="plan-text")
        yield Footer()

    def watch_frame(self, frame: Frame) -> None:
        ds = frame.snapshot.dataset(self.dataset_id) if self.dataset_id else None
        body_text = None if ds is None else self._body(frame, ds)
        if body_text is not None and body_text == self._shown:
            return  # nothing moved: leave the widget (and its scroll position) alone
        self._shown = body_text
        title = Text(" Plan ", style="bold reverse")
        title.append(f"  dataset {self.dataset_id or NA}  operators as a graph: fused logical "
                     "operators inside, queued blocks on each edge", style="dim")
        self.query_one("#plan-title", Static).update(title)
        body = self.query_one("#plan-text", Static)
        body.update(Text("no dataset in this snapshot", style="dim") if body_text is None else body_text)

    def _body(self, frame: Frame, ds: DatasetStats) -> Text:
        bneck = derive.bottleneck(ds, frame)
        width = (self.size.width or self.app.size.width) - 4  # padding, scrollbar
        return render_plan(ds, frame.plans.get(ds.dataset_id), frame.plan_analysis_available,
                           frame.history, bneck.key if bneck else None, width)
