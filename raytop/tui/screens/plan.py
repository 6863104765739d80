"""Plan screen: logical operators grouped into the physical operators that run them, and why
adjacent groups were not fused (when the plan analysis is available)."""

from __future__ import annotations

from typing import Any, Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from raytop.model import DatasetStats, LogicalOp, Plan
from raytop.format import NA
from raytop.tui.frame import Frame


def _logical_line(op: LogicalOp) -> str:
    bits = [op.op_class, op.compute]
    if op.min_size is not None or op.max_size is not None:
        bits.append(f"size {op.min_size if op.min_size is not None else NA}"
                    f"..{op.max_size if op.max_size is not None else NA}")
    if op.batch_size is not None:
        bits.append(f"batch_size {op.batch_size}")
    if op.ray_remote_args:
        bits.append(", ".join(f"{k}={v}" for k, v in sorted(op.ray_remote_args.items())))
    if op.has_remote_args_fn:
        bits.append("ray_remote_args_fn")
    if op.target_max_block_size is not None:
        bits.append(f"target_max_block_size {op.target_max_block_size}")
    return "  ".join(bits)


def _groups_from_plan(plan: Plan) -> list[tuple[str, Optional[str], list[str]]]:
    return [(p.name, p.physical_class, list(p.logical)) for p in plan.physical]


def _groups_from_analysis(analysis: Any) -> list[tuple[str, Optional[str], list[str]]]:
    return [(g.physical, g.physical_class, list(g.logical)) for g in analysis.groups]


def render_plan(ds: DatasetStats, analysis: Any, analysis_available: bool) -> Text:
    text = Text()
    plan = ds.plan
    if plan is None:
        text.append("The logical plan was not captured (attached without the probe): physical "
                    "operators and the logical operators fused into them.\n\n", style="dim")
        for op in ds.operators:
            text.append("╭─ ", style="cyan")
            text.append(op.physical_class or "operator", style="dim")
            text.append(f" · {op.name}\n", style="bold")
            for name in op.logical or (op.name,):
                text.append("│ ", style="cyan")
                text.append(f"{name}\n")
            text.append("╰─\n", style="cyan")
        return text
    logical = {op.id: op for op in plan.logical}
    groups = _groups_from_analysis(analysis) if analysis is not None else _groups_from_plan(plan)
    boundaries = list(getattr(analysis, "boundaries", ()) or ())
    if analysis is None:
        why = ("plan analysis not available yet" if not analysis_available
               else "the plan analysis failed on this plan")
        text.append(f"Fused groups as Ray planned them; why-not-fused reasons: {why}.\n\n", style="dim")
    for gi, (physical, cls, ids) in enumerate(groups):
        fused = len(ids) > 1
        text.append("╭─ ", style="cyan")
        text.append(cls or "operator", style="dim")
        text.append(f" · {physical}", style="bold")
        text.append(f"  ({len(ids)} fused)\n" if fused else "\n", style="green")
        for lid in ids:
            op = logical.get(lid)
            text.append("│ ", style="cyan")
            text.append(f"{op.name if op else lid:<34}", style="bold")
            text.append(f" {_logical_line(op) if op else ''}\n", style="dim")
        text.append("╰─\n", style="cyan")
        last = ids[-1] if ids else None
        for b in boundaries:
            if b.upstream != last or b.fused:
                continue
            text.append(f"   ↓ not fused with {b.downstream_name}", style="yellow")
            if not b.reasons:
                text.append(": reason unknown\n", style="dim")
                continue
            text.append(":\n", style="yellow")
            for reason in b.reasons:
                text.append("     • ")
                text.append(reason.text)
                text.append("  (fixable)\n" if reason.fixable else "  (by design)\n",
                            style="green" if reason.fixable else "dim")
        if gi < len(groups) - 1 and not any(b.upstream == last and not b.fused for b in boundaries):
            text.append("   ↓\n", style="dim")
    return text


class PlanScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, dataset_id: Optional[str]) -> None:
        super().__init__()
        self.dataset_id = dataset_id
        self._shown: Any = None

    def compose(self) -> ComposeResult:
        yield Static(id="plan-title")
        with VerticalScroll(id="plan-body"):
            yield Static(id="plan-text")
        yield Footer()

    def on_mount(self) -> None:
        self.show_frame(getattr(self.app, "frame", None))

    def show_frame(self, frame: Optional[Frame]) -> None:
        ds = frame.snapshot.dataset(self.dataset_id) if frame and self.dataset_id else None
        analysis = frame.plans.get(self.dataset_id) if frame and self.dataset_id else None
        key = (None if ds is None else (ds.plan, ds.operators and tuple(o.name for o in ds.operators)),
               id(analysis))
        if key == self._shown:
            return  # the plan does not change every second; keep the scroll position steady
        self._shown = key
        title = Text(" Plan ", style="bold reverse")
        title.append(f"  dataset {self.dataset_id or NA}  logical operators → physical operators",
                     style="dim")
        self.query_one("#plan-title", Static).update(title)
        body = self.query_one("#plan-text", Static)
        if ds is None:
            body.update(Text("no dataset in this snapshot", style="dim"))
            return
        body.update(render_plan(ds, analysis, bool(frame and frame.plan_analysis_available)))
