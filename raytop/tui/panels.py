"""The overview's read-only panels: header, source line, GPU, memory and advice.

Each panel holds the frame and the chosen dataset id as reactives, data-bound to the overview
screen's (``OverviewScreen``); a change refreshes it and ``render`` draws it for the current width.
``render`` only reads: no I/O, no state kept between renders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from raytop.analysis.consumer import consumer_summary
from raytop.format import (
    NA,
    bar,
    fmt_bytes,
    fmt_count,
    fmt_duration,
    fmt_percent,
    fraction,
    sparkline,
    truncate,
)
from raytop.model import DatasetStats, GpuStats, NodeStats, Snapshot, op_key, op_labels, sum_known
from raytop.tui import derive
from raytop.tui.frame import EMPTY_FRAME, Frame
from raytop.tui.operators_table import truncate_label
from raytop.tui.trouble import gpu_nodes_by_trouble, nodes_by_trouble, troubles_of

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def status_style(status: str) -> str:
    if status == "ok":
        return "green"
    if status.startswith("stale"):
        return "yellow"
    return "dim"


def util_style(util: float | None) -> str:
    """A GPU's utilisation colour: green from 70 %, yellow from 30 %, red below (or unknown)."""
    if util is not None and util >= 70:
        return "green"
    return "yellow" if util is not None and util >= 30 else "red"


class Mode(NamedTuple):
    """The view's state as the header's badge shows it: "LIVE", "PAUSED", "REPLAY ▶", …"""

    label: str = ""
    style: str = ""


class FramePanel(Widget):
    """A panel that renders a frame for the chosen dataset; bound to the screen's reactives.

    ``render`` builds the panel's Text; it is drawn through the line API: rendered by rich once
    per frame and width into strips (no conversion to Textual's Content on each update), and the
    screen is laid out again only when the panel's number of lines changed."""

    DEFAULT_CSS = "FramePanel { height: auto; }"

    frame: reactive[Frame] = reactive(EMPTY_FRAME)
    dataset_id: reactive[str | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._version = 0  # counts the changes of what the panel shows
        self._drawn: tuple[int, int, list[Strip]] = (-1, -1, [])  # version, width, lines

    @property
    def dataset(self) -> DatasetStats | None:
        """The dataset shown: the one picked, else the newest running one (``pick_dataset``)."""
        return derive.pick_dataset(self.frame.snapshot, self.dataset_id)

    def inner_width(self) -> int:
        return max(10, self.content_size.width or self.size.width or 80)

    def render(self) -> Text:
        """What the panel shows, for its current width (subclasses)."""
        return Text()

    def watch_frame(self) -> None:
        self.redraw()

    def watch_dataset_id(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        """What the panel shows changed: redraw it, and lay the screen out again when its height
        changed."""
        before = len(self._drawn[2])
        self._version += 1
        width = self.content_size.width
        self.refresh(layout=not width or len(self.lines_for(width)) != before)

    def lines_for(self, width: int) -> list[Strip]:
        version, drawn_width, lines = self._drawn
        if (version, drawn_width) != (self._version, width):
            lines = self.draw(width)
            self._drawn = (self._version, width, lines)
        return lines

    def draw(self, width: int) -> list[Strip]:
        """The panel's lines at ``width``, once per change of what it shows: ``render``'s Text
        through rich (a subclass may put its lines together its own way)."""
        return self.strips(self.render(), width)

    def strips(self, text: Text, width: int) -> list[Strip]:
        options = self.app.console.options.update(width=max(1, width), height=None)
        rendered = self.app.console.render_lines(text, options, style=self.rich_style)
        return [Strip(line, width) for line in rendered]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines_for(width))

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        lines = self.lines_for(width)
        return lines[y] if y < len(lines) else Strip.blank(width, self.rich_style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._version += 1  # the colours are in the lines


class HeaderBar(FramePanel):
    """Address, dataset, state, elapsed, rows/s, progress and ETA, and the view's mode."""

    mode: reactive[Mode] = reactive(Mode())

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view_title = title

    def watch_mode(self) -> None:
        self.redraw()

    def render(self) -> Text:
        text = Text(no_wrap=False, overflow="fold")
        if self.mode.label:
            text.append(f" {self.mode.label} ", style=f"reverse {self.mode.style}")
        text.append(f" {self.view_title}", style="bold")
        frame = self.frame
        if frame.empty:
            text.append("  waiting for the first snapshot…", style="dim")
            return text
        snap = frame.snapshot
        text.append(f"  {snap.address or 'address ' + NA}", style="dim")
        ds = self.dataset
        if ds is None:
            text.append("  no dataset running yet", style="dim")
            return text
        count = len(snap.datasets)
        which = f" ({count} datasets, d to pick)" if count > 1 else ""
        text.append(f"  {truncate(ds.dataset_id, 28)}{which} ")
        state = ds.state or "UNKNOWN"
        text.append(state, style={"RUNNING": "bold green", "FINISHED": "bold cyan",
                                  "FAILED": "bold red"}.get(state, "bold"))
        rate = derive.dataset_rate(frame.history, ds.dataset_id)
        text.append(f"  elapsed {fmt_duration(derive.elapsed_s(ds, snap.t))}")
        text.append(f"  {fmt_count(rate) if rate is not None else NA} rows/s")
        text.append(f"  rows {fmt_count(ds.rows_out)}")
        hint = derive.rows_hint(ds)
        if hint:
            text.append(f" {hint}", style="dim")
        prog = derive.progress(ds)
        if prog is not None:
            text.append(f"/{fmt_count(ds.rows_total)} {prog * 100:.0f}%")
            eta = derive.eta_s(ds, rate)
            text.append(f"  ETA {fmt_duration(eta)}")
        if ds.error:
            text.append(f"  error: {truncate(ds.error, 60)}", style="red")
        consumer = consumer_summary(ds.consumer)  # a dataset the driver's loop iterates
        if consumer:
            text.append(f"\n{consumer}", style="dim")
        return text


class SourceLine(FramePanel):
    """probe/stats/gpu/cluster: ok, stale or absent, with the reason."""

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("sources ", style="dim")
        if self.frame.empty:
            return text.append(NA)
        for i, (name, status) in enumerate(sorted(self.frame.snapshot.sources.items())):
            if i:
                text.append(" · ", style="dim")
            text.append(f"{name} ", style="bold")
            text.append(status, style=status_style(status))
        if not self.frame.snapshot.sources:
            text.append("none reported", style="dim")
        return text


def _gpu_ops(gpu: GpuStats) -> str:
    mem: dict[str, int] = defaultdict(int)
    for proc in gpu.processes:
        if proc.operator:
            mem[proc.operator] += proc.gpu_mem_bytes or 0
    if not mem:
        return "no Ray Data process" if gpu.processes == () else "other processes"
    return ", ".join(f"{op}" for op, _ in sorted(mem.items(), key=lambda kv: -kv[1]))


MAX_GPU_LINES = 16  # above this many GPUs the panel shows one line per node
MAX_NODE_LINES = 8  # the GPU and memory panels are at most ~10 lines high


class _GpuLayout(NamedTuple):
    """What every GPU line of one render needs: the room, and the history of each GPU."""

    width: int
    multi: bool  # GPUs on several nodes: lines are prefixed with the node
    total: int  # GPUs in the cluster
    histories: dict  # (node id, GPU index) -> utilisation per snapshot of the history


def util_histories(history: Sequence[Snapshot]) -> dict:
    """(node id, GPU index) -> utilisation over ``history``, built in one pass."""
    out: dict = {}
    for i, snap in enumerate(history):
        for n in snap.nodes:
            for g in n.gpus:
                series = out.get((n.node_id, g.index))
                if series is None:
                    series = out[(n.node_id, g.index)] = [None] * len(history)
                series[i] = g.util_percent
    return out


class GpuPanel(FramePanel):
    """Each GPU: utilisation, memory and power as bars, a utilisation sparkline, its operators."""

    def render(self) -> Text:
        text = Text(overflow="ellipsis")  # a long line wraps at words
        frame = self.frame
        if frame.empty:
            return text.append(NA, style="dim")
        nodes = frame.snapshot.nodes
        if not nodes:
            status = frame.snapshot.sources.get("cluster", "not reported")
            return text.append(f"no nodes known (cluster {status})", style="dim")
        total = sum(len(n.gpus) for n in nodes)
        if total > MAX_GPU_LINES:
            # A cluster: one line per node (its GPUs summarised) rather than thousands of lines.
            if not self._node_lines(text, nodes, total):
                return text
        else:
            layout = _GpuLayout(self.inner_width(), sum(1 for n in nodes if n.gpus) > 1, total,
                                util_histories(frame.history))
            for node in nodes:
                for gpu in node.gpus:
                    if text.plain:
                        text.append("\n")
                    self._gpu_line(text, node, gpu, layout)
        self._no_gpu_lines(text, nodes)
        return text

    def _node_lines(self, text: Text, nodes: Sequence[NodeStats], total: int) -> bool:
        """One line per node with GPUs; False when the nodes did not all fit (nothing may follow)."""
        with_gpus = [n for n in nodes if n.gpus]
        if len(with_gpus) > MAX_NODE_LINES:  # not all fit: those whose GPUs are most in trouble
            with_gpus = gpu_nodes_by_trouble(nodes, troubles_of(self.frame))
        for node in with_gpus[:MAX_NODE_LINES]:
            if text.plain:
                text.append("\n")
            self._node_gpus_line(text, node, self.inner_width())
        if len(with_gpus) <= MAX_NODE_LINES:
            return True
        utils = [g.util_percent for n in with_gpus for g in n.gpus if g.util_percent is not None]
        mean = sum(utils) / len(utils) if utils else None
        text.append(f"\n… {len(with_gpus) - MAX_NODE_LINES} more nodes; all "
                    f"{total} GPUs average {fmt_percent(mean)}; n lists them all", style="dim")
        return False

    def _no_gpu_lines(self, text: Text, nodes: Sequence[NodeStats]) -> None:
        # The gpu source reads this machine's NVML; on one node its reason is that node's.
        local_why = self.frame.snapshot.sources.get("gpu") if len(nodes) == 1 else None
        for node in nodes:
            if node.gpus:
                continue
            if text.plain:
                text.append("\n")
            why = node.gpu_source or (local_why if local_why and local_why != "ok" else None) \
                or "no GPU reported"
            text.append(f"{node.ip or node.node_id[:8]}: ", style="bold")
            text.append(f"no GPU ({why.removeprefix('absent: ')})",
                        style="yellow" if why.startswith("stale") else "dim")

    def _node_gpus_line(self, text: Text, node: NodeStats, width: int) -> None:
        utils = [g.util_percent for g in node.gpus if g.util_percent is not None]
        used = [g.mem_used_bytes for g in node.gpus if g.mem_used_bytes is not None]
        total = [g.mem_total_bytes for g in node.gpus if g.mem_total_bytes is not None]
        lost = sum(1 for g in node.gpus if g.lost)
        mean = sum(utils) / len(utils) if utils else None
        text.append(f"{node.ip or node.node_id[:8]} ", style="bold")
        text.append(f"{len(node.gpus)} GPUs ")
        text.append(bar(None if mean is None else mean / 100, 6), style=util_style(mean))
        rng = f" ({min(utils):.0f}–{max(utils):.0f})" if utils else ""
        text.append(f" {fmt_percent(mean)}{rng} mem {fmt_bytes(sum(used) if used else None)}/"
                    f"{fmt_bytes(sum(total) if total else None)}"[: max(0, width - 20)])
        if lost:
            text.append(f" {lost} lost", style="bold red")

    def _gpu_line(self, text: Text, node: NodeStats, gpu: GpuStats, layout: _GpuLayout) -> None:
        """Label, util bar and memory always; sparkline, power/temperature and operators only
        when they fit the width."""
        width = layout.width
        label = f"{(node.ip or node.node_id[:6]) + ':' if layout.multi else ''}GPU{gpu.index}"
        if gpu.lost:
            text.append(f"{label} ", style="bold")
            text.append("lost: the device stopped answering", style="bold red")
            return
        util = gpu.util_percent
        style = util_style(util)
        mem_frac = fraction(gpu.mem_used_bytes, gpu.mem_total_bytes)
        bar_w = 10 if width >= 60 else 4
        power = NA if gpu.power_watts is None else f"{gpu.power_watts:.0f}"
        limit = "" if gpu.power_limit_watts is None else f"/{gpu.power_limit_watts:.0f}"
        temp = "" if gpu.temp_c is None else f" {gpu.temp_c:.0f}°C"
        spark = sparkline(layout.histories.get((node.node_id, gpu.index), []), 10, lo=0, hi=100)
        parts: list[tuple[str, str, bool]] = [  # (text, style, optional)
            (f"{label} ", "bold", False),
            (bar(None if util is None else util / 100, bar_w), style, False),
            (f" {fmt_percent(util):>4} ", "", False),
            (spark + " ", style, True),
            ("mem " if width >= 45 else "", "", False),
            (bar(mem_frac, bar_w), "red" if mem_frac and mem_frac >= 0.95 else "magenta", False),
            (f" {fmt_bytes(gpu.mem_used_bytes)}/{fmt_bytes(gpu.mem_total_bytes)} ", "", False),
            (f"{power}{limit}W{temp} ", "", True),
            (_gpu_ops(gpu), "cyan", True),
        ]
        room = width - sum(len(p) for p, _, optional in parts if not optional)
        skipped: list[tuple[str, str]] = []
        for part, part_style, optional in parts:
            if optional:
                if len(part) > room:
                    if part.strip() and part is not parts[3][0]:
                        skipped.append((part, part_style))
                    continue
                room -= len(part)
            text.append(part, style=part_style)
        if skipped and layout.total <= 2:
            # With few GPUs there is room for a second line: power and who uses the GPU matter.
            text.append("\n" + " " * min(len(label) + 1, 8))
            left = width - min(len(label) + 1, 8)
            for part, part_style in skipped:
                if left <= 0:
                    break
                text.append(part[:left], style=part_style)
                left -= len(part)


def rest_summary(rest: Sequence[NodeStats]) -> str:
    """One line for the nodes a panel does not list: how many, their store and spill totals."""
    used = sum_known(n.object_store.used_bytes for n in rest)
    cap = sum_known(n.object_store.capacity_bytes for n in rest)
    spilled = sum_known(n.object_store.spilled_bytes for n in rest)
    dead = sum(1 for n in rest if not n.alive)
    return (f"… {len(rest)} more nodes{f' ({dead} dead)' if dead else ''}: store "
            f"{fmt_bytes(used)}/{fmt_bytes(cap)} spilled {fmt_bytes(spilled)}; n lists them all")


class MemoryPanel(FramePanel):
    """Object store used/capacity/spilled and heap per node; heap per operator."""

    def render(self) -> Text:
        text = Text(overflow="ellipsis")  # a long line wraps at words
        frame = self.frame
        if frame.empty:
            return text.append(NA, style="dim")
        nodes = frame.snapshot.nodes
        width = self.inner_width()
        if not nodes:
            text.append("no nodes known", style="dim")
        # The panel shows ~10 lines: past that, the nodes most in trouble, the rest summed up.
        shown = nodes if len(nodes) <= MAX_NODE_LINES else \
            nodes_by_trouble(nodes, troubles_of(frame))[:MAX_NODE_LINES]
        for i, node in enumerate(shown):
            if i:
                text.append("\n")
            self._node_line(text, node, width)
        if len(nodes) > MAX_NODE_LINES:
            picked = {id(n) for n in shown}
            text.append("\n" + rest_summary([n for n in nodes if id(n) not in picked]),
                        style="dim")
        text.append("\n")
        heap = self._heap_by_operator()
        if not heap:
            text.append("heap by op ", style="dim")
            return text.append("no Ray Data worker seen" if nodes else NA, style="dim")
        heap_lines(text, heap, width)
        return text

    def _node_line(self, text: Text, node: NodeStats, width: int) -> None:
        """Store bar, used/capacity and spilled always; heap and node memory when they fit."""
        store = node.object_store
        frac = fraction(store.used_bytes, store.capacity_bytes)
        name = (node.ip or node.node_id[:8]) + ("*" if node.is_head else "")
        spilled = store.spilled_bytes
        parts: list[tuple[str, str, bool]] = [
            (f"{truncate(name, 16)} ", "bold" if node.alive else "dim strike", False),
            ("store " if width >= 40 else "", "", False),
            (bar(frac, 10 if width >= 60 else 4),
             "red" if frac and frac >= 0.9 else "yellow" if frac and frac >= 0.7 else "green", False),
            (f" {fmt_bytes(store.used_bytes)}/{fmt_bytes(store.capacity_bytes)}", "", False),
            (" spill ", "", False),
            (fmt_bytes(spilled), "bold red" if spilled else "", False),
            (f" heap {fmt_bytes(node.heap_bytes)}", "", True),
            (f" mem {fmt_bytes(node.mem_used_bytes)}/{fmt_bytes(node.mem_total_bytes)}", "", True),
        ]
        if not node.alive:
            parts.append((" (dead)", "red", False))
        room = width - sum(len(p) for p, _, optional in parts if not optional)
        for part, style, optional in parts:
            if optional:
                if len(part) > room:
                    continue
                room -= len(part)
            text.append(part, style=style)

    def _heap_by_operator(self) -> list[tuple[str, int]]:
        totals: dict[str, int] = defaultdict(int)
        ds = self.dataset
        if ds is not None and any(op.heap_bytes is not None for op in ds.operators):
            labels = op_labels(ds.operators)
            for op in ds.operators:
                if op.heap_bytes is not None:
                    totals[labels[op_key(op)]] += op.heap_bytes
        else:
            for node in self.frame.snapshot.nodes:
                for name, size in node.heap_by_operator.items():
                    totals[name] += size
        return sorted(totals.items(), key=lambda kv: -kv[1])


HEAP_LINES = 2  # the memory panel's heap-by-operator lines, heaviest operators first


def heap_lines(text: Text, heap: Sequence[tuple[str, int]], width: int) -> None:
    """``heap by op A 1.2 GiB · B 800 MiB …`` on at most ``HEAP_LINES`` lines of ``width``, the
    heaviest first; the operators that do not fit are counted at the end. Laid out here rather
    than wrapped by rich: wrapping 40 operators' line cost 5 ms a frame."""
    text.append("heap by op", style="dim")
    used, line = len("heap by op"), 1
    for i, (op, size) in enumerate(heap):
        # keep a "#index" (same-named operators): it is what tells them apart
        short = truncate_label(op, 24) if " #" in op else truncate(op, 24)
        item = f"{short} {fmt_bytes(size)}"
        sep = " " if i == 0 else " · "
        # the last line keeps room for "… N more"
        more = len(f" … {len(heap) - i - 1} more") if i < len(heap) - 1 else 0
        if used + len(sep) + len(item) + (more if line == HEAP_LINES else 0) > width:
            room_next = width - (more if line + 1 == HEAP_LINES else 0)
            if line < HEAP_LINES and len(item) <= room_next:  # on the next line
                text.append("\n")
                used, line, sep = 0, line + 1, ""
            else:
                text.append(f" … {len(heap) - i} more", style="dim")
                return
        text.append(sep, style="dim")
        text.append(f"{short} ", style="cyan")
        text.append(fmt_bytes(size))
        used += len(sep) + len(item)
