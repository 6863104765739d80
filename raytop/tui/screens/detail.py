"""Operator detail: timelines of one operator over the kept history, its fused operators, and
where it sits in the graph (what it reads, what it feeds). The operator is named by its op key."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Footer, Static

from raytop.format import NA, fmt_bytes, fmt_count, fmt_percentiles, fmt_short_seconds, sparkline
from raytop.model import DatasetStats, OperatorStats, op_key
from raytop.plan_graph import build_graph
from raytop.tails import OperatorTails, Percentiles
from raytop.tui import derive
from raytop.tui.frame import EMPTY_FRAME, Frame
from raytop.tui.operators_table import POLICY_SHORT, POLICY_STYLE, backpressure_text, usage_text
from raytop.tui.screens.base import FrameScreen

LABEL_W = 15
STATS_W = 22  # " now 123.4M max 123.4M"
POLICY_LETTER = {"ResourceBudget": "R", "ConcurrencyCap": "C", "DownstreamCapacity": "D"}


SERIES: tuple[tuple[str, Callable[[OperatorStats], float | None], Callable], ...] = (
    ("in q blocks", lambda o: o.queued_blocks, fmt_count),
    ("in q bytes", lambda o: o.queued_bytes, fmt_bytes),
    ("out q blocks", lambda o: o.produced_blocks, fmt_count),
    ("out q bytes", lambda o: o.produced_bytes, fmt_bytes),
    ("tasks running", lambda o: o.tasks_running, fmt_count),
    ("heap", lambda o: o.heap_bytes, fmt_bytes),
    ("GPU mem", lambda o: o.gpu_mem_bytes, fmt_bytes),
)
ACTOR_SERIES = (
    ("actors running", lambda o: o.actors.running if o.actors else None),
    ("actors pending", lambda o: o.actors.pending if o.actors else None),
    ("actors idle", lambda o: o.actors.idle if o.actors else None),
)


def backpressure_span(history: Sequence, dataset_id: str, key: str, width: int) -> Text:
    """One cell per snapshot: the first active policy's letter on its colour, '·' when none."""
    flags = derive.series(history, dataset_id, key, lambda o: o.backpressure)
    text = Text()
    for value in list(flags)[-width:]:
        if value is None:
            text.append(" ")
        elif not value:
            text.append("·", style="dim")
        else:
            policy = value[0].partition(":")[2]
            text.append(POLICY_LETTER.get(policy, "?"),
                        style=f"reverse {POLICY_STYLE.get(policy, 'cyan')}")
    return text


class Timelines(Widget):
    """One operator's series over the frame's history; ``frame`` is bound to the screen's."""

    DEFAULT_CSS = "Timelines { height: auto; }"

    frame: reactive[Frame] = reactive(EMPTY_FRAME, layout=True)

    def __init__(self, dataset_id: str, key: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.dataset_id, self.op_key = dataset_id, key

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        frame = self.frame
        if frame.empty:
            return text
        width = max(10, self.content_size.width - LABEL_W - STATS_W - 1)
        hist = frame.history
        rows: list[tuple[str, list, Callable]] = [
            (label, derive.series(hist, self.dataset_id, self.op_key, get), fmt)
            for label, get, fmt in SERIES[:4]]
        rows.append(("rows/s", derive.rate_series(hist, self.dataset_id, self.op_key), fmt_count))
        rows.extend((label, derive.series(hist, self.dataset_id, self.op_key, get), fmt)
                    for label, get, fmt in SERIES[4:5])
        op = derive.find_operator(frame.snapshot.dataset(self.dataset_id), self.op_key)
        if op is not None and op.actors is not None:
            rows.extend((label, derive.series(hist, self.dataset_id, self.op_key, get), fmt_count)
                        for label, get in ACTOR_SERIES)
        rows.extend((label, derive.series(hist, self.dataset_id, self.op_key, get), fmt)
                    for label, get, fmt in SERIES[5:])
        for label, values, fmt in rows:
            known = [v for v in values if v is not None]
            now = values[-1] if values else None
            text.append(f"{label:<{LABEL_W}}", style="bold")
            text.append(sparkline(values, width, lo=0, hi=None), style="cyan")
            text.append(f" now {fmt(now):>6} max {fmt(max(known)) if known else NA:>6}\n")
        text.append(f"{'backpressure':<{LABEL_W}}", style="bold")
        text.append_text(backpressure_span(hist, self.dataset_id, self.op_key, width))
        text.append("\n" + " " * LABEL_W)
        for policy, letter in POLICY_LETTER.items():
            text.append(letter, style=f"reverse {POLICY_STYLE[policy]}")
            text.append(f" {POLICY_SHORT[policy]}  ")
        text.append("· none", style="dim")
        return text


def _neighbours(op: OperatorStats, ds: DatasetStats) -> Text | None:
    """"reads A · feeds B (input 2 of 2)" from the plan graph; None when edges are unknown."""
    graph = build_graph(ds)
    key = op_key(op)
    node = graph.node(key)
    if node is None or not graph.edges_known:
        return None
    text = Text()
    ups = [graph.node(k) for k in node.inputs]
    text.append("reads ", style="dim")
    text.append(", ".join(u.label for u in ups if u is not None) or NA)
    text.append("  feeds ", style="dim")
    feeds = []
    for c in graph.consumers(key):
        which = f" (input {c.inputs.index(key) + 1} of {len(c.inputs)})" if len(c.inputs) > 1 else ""
        feeds.append(c.label + which)
    text.append(", ".join(feeds) or "the consumer")
    return text


def _pcts(p: Percentiles | None, fmt) -> str:
    return NA if p is None or not p.count else fmt_percentiles(p.p50, p.p90, p.p99, fmt)


def tails_text(tails: OperatorTails | None, ips: dict) -> Text:
    """Percentiles of task time and block size (bucket resolution), and the longest-running
    tasks with their nodes when the probe reads them."""
    text = Text()
    text.append("p50/p90/p99 task ", style="dim")
    text.append(_pcts(tails.task_s if tails else None, fmt_short_seconds))
    text.append("  block ", style="dim")
    text.append(_pcts(tails.block_bytes if tails else None, fmt_bytes))
    text.append("  rows ", style="dim")
    text.append(_pcts(tails.block_rows if tails else None, fmt_count))
    text.append("  (Ray's buckets)\n", style="dim")
    slow = tails.slow_tasks if tails is not None else None
    if slow:
        text.append("running longest ", style="dim")
        text.append(", ".join(
            f"task {NA if t.task_index is None else t.task_index} "
            f"{fmt_short_seconds(t.running_s if t.running_s is not None else t.age_s)} on "
            f"{NA if t.node_id is None else ips.get(t.node_id) or t.node_id[:12]}" for t in slow[:3]))
        text.append("\n")
    return text


def describe(op: OperatorStats, ds: DatasetStats, ips: dict | None = None) -> Text:
    text = Text()
    where = _neighbours(op, ds)
    if where is not None:
        text.append_text(where)
        text.append("\n")
    text.append("class ", style="dim")
    text.append(f"{op.physical_class or NA}  ")
    text.append("compute ", style="dim")
    text.append(f"{op.compute}  ")
    text.append("state ", style="dim")
    text.append(f"{op.state or NA}\n")
    text.append("tasks finished/failed ", style="dim")
    text.append(f"{fmt_count(op.tasks_finished)}/{fmt_count(op.tasks_failed)}  ")
    text.append("avg task ", style="dim")
    text.append(NA if op.avg_task_s is None else f"{op.avg_task_s:.2f}s")
    text.append("  avg block ", style="dim")
    text.append(f"{fmt_bytes(op.avg_block_bytes)} {fmt_count(op.avg_block_rows)} rows\n")
    text.append_text(tails_text(op.tails, ips or {}))
    text.append("rows out ", style="dim")
    text.append(f"{fmt_count(op.rows_out)}  ")
    text.append("bytes out ", style="dim")
    text.append(f"{fmt_bytes(op.bytes_out)}  ")
    text.append("time backpressured tasks/outputs ", style="dim")
    sub, out = op.submission_backpressure_s, op.output_backpressure_s
    text.append(f"{NA if sub is None else f'{sub:.1f}s'}/{NA if out is None else f'{out:.1f}s'}\n")
    text.append("backpressure now ", style="dim")
    text.append_text(backpressure_text(op.backpressure) if op.backpressure else Text("none"))
    text.append("\nusage/budget ", style="dim")
    text.append(usage_text(op.usage, op.budget))
    text.append("\nfused logical operators ", style="dim")
    text.append(" → ".join(op.logical) if op.logical else NA, style="cyan")
    return text


class OperatorDetailScreen(FrameScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, dataset_id: str, key: str) -> None:
        super().__init__()
        self.dataset_id, self.op_key = dataset_id, key

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Timelines(self.dataset_id, self.op_key, id="timelines").data_bind(FrameScreen.frame)
            yield Static(id="detail-info")
        yield Footer()

    def watch_frame(self, frame: Frame) -> None:
        ds = frame.snapshot.dataset(self.dataset_id)
        op = derive.find_operator(ds, self.op_key)
        head = Text(f" {derive.label_of(ds, self.op_key)} ", style="bold reverse")
        head.append(f"  dataset {self.dataset_id}", style="dim")
        if not frame.empty:
            head.append(f"  last {len(frame.history)} snapshots", style="dim")
        if op is None:
            head.append("  (not in the current snapshot)", style="yellow")
        self.query_one("#detail-title", Static).update(head)
        ips = {n.node_id: n.ip for n in frame.snapshot.nodes if n.ip}
        info = describe(op, ds, ips) if op is not None and ds is not None else Text("")
        self.query_one("#detail-info", Static).update(info)
