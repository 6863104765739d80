"""The node screen (``n``): every node of the cluster in a table, most in trouble first; and a
node's detail (Enter): its GPUs with the processes on them and their operators, heap and GPU
memory by operator."""

from __future__ import annotations

from collections import defaultdict

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from raytop.format import NA, fmt_bytes, fmt_count, fmt_percent
from raytop.model import GpuStats, NodeStats
from raytop.tui.frame import Frame
from raytop.tui.nodes_table import BY_TROUBLE, NodesTable, gpus_text, node_name, store_text
from raytop.tui.screens.base import FrameScreen
from raytop.tui.trouble import node_trouble


class NodesScreen(FrameScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("o", "sort", "Sort"),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="nodes-title")
        yield NodesTable(id="nodes").data_bind(NodesScreen.frame)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(NodesTable).focus()

    def watch_frame(self, frame: Frame) -> None:
        self._title()

    def action_sort(self) -> None:
        self.query_one(NodesTable).cycle_sort()
        self._title()

    def action_reverse_sort(self) -> None:
        self.query_one(NodesTable).reverse_sort()
        self._title()

    def _title(self) -> None:
        nodes = self.frame.snapshot.nodes
        dead = sum(1 for n in nodes if not n.alive)
        order = self.query_one(NodesTable).sort
        title = Text(" Nodes ", style="bold reverse")
        title.append(f"  {len(nodes)} node{'s' if len(nodes) != 1 else ''}"
                     + (f", {dead} dead" if dead else ""))
        how = "most in trouble first" if order == BY_TROUBLE else \
            f"by {order.column.lower()}{'' if order.descending else ', reversed'}"
        title.append(f"  {how} (o, O)  Enter: the node's GPUs and operators", style="dim")
        self.query_one("#nodes-title", Static).update(title)


def _gpu_lines(gpu: GpuStats) -> Text:
    text = Text("  ")
    text.append(f"GPU{gpu.index} ", style="bold")
    if gpu.lost:
        return text.append("lost: the device stopped answering\n", style="bold red")
    power = NA if gpu.power_watts is None else f"{gpu.power_watts:.0f}"
    limit = "" if gpu.power_limit_watts is None else f"/{gpu.power_limit_watts:.0f}"
    text.append(f"{gpu.name or NA}  util {fmt_percent(gpu.util_percent)}  mem "
                f"{fmt_bytes(gpu.mem_used_bytes)}/{fmt_bytes(gpu.mem_total_bytes)}  {power}{limit}W"
                f"  {NA if gpu.temp_c is None else f'{gpu.temp_c:.0f}°C'}\n")
    for proc in gpu.processes:
        text.append(f"    pid {proc.pid} → ", style="dim")
        text.append(proc.operator or "not a Ray Data operator", style="cyan" if proc.operator else "dim")
        text.append(f"  {fmt_bytes(proc.gpu_mem_bytes)}\n")
    return text


def _by_operator(title: str, sizes: dict[str, int]) -> Text:
    text = Text(f"{title}\n", style="bold")
    if not sizes:
        return text.append("  none seen\n", style="dim")
    for op, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        text.append(f"  {fmt_bytes(size):>7}  ")
        text.append(f"{op}\n", style="cyan")
    return text


def describe_node(node: NodeStats) -> Text:
    """What the detail screen shows of a node."""
    trouble = node_trouble(node)
    text = Text()
    text.append("alive" if node.alive else "dead", style="" if node.alive else "bold red")
    text.append(f" CPU {fmt_percent(node.cpu_percent)} of {fmt_count(node.num_cpus)}  mem "
                f"{fmt_bytes(node.mem_used_bytes)}/{fmt_bytes(node.mem_total_bytes)}  workers "
                f"{fmt_count(node.num_workers)}  heap {fmt_bytes(node.heap_bytes)}\n")
    text.append(f"store {store_text(node)}  spilled {fmt_bytes(node.object_store.spilled_bytes)}"
                f"  GPUs {gpus_text(node)}\n")
    text.append("trouble ", style="dim")
    text.append(", ".join(trouble.reasons) or "nothing stands out",
                style="bold red" if trouble.level >= 1 else "yellow" if trouble.reasons else "")
    text.append("\n\nGPUs\n", style="bold")
    if not node.gpus:
        text.append(f"  none ({(node.gpu_source or 'no GPU reported').removeprefix('absent: ')})\n",
                    style="dim")
    for gpu in node.gpus:
        text.append_text(_gpu_lines(gpu))
    gpu_mem: dict[str, int] = defaultdict(int, node.gpu_mem_by_operator)
    if not gpu_mem:
        for proc in (p for g in node.gpus for p in g.processes):
            if proc.operator and proc.gpu_mem_bytes is not None:
                gpu_mem[proc.operator] += proc.gpu_mem_bytes
    text.append("\n")
    text.append_text(_by_operator("heap by operator", dict(node.heap_by_operator)))
    text.append_text(_by_operator("GPU memory by operator", dict(gpu_mem)))
    return text


class NodeDetailScreen(FrameScreen):
    """One node, by id, redrawn per frame."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def compose(self) -> ComposeResult:
        yield Static(id="node-title")
        with VerticalScroll(id="node-body"):
            yield Static(id="node-info")
        yield Footer()

    def watch_frame(self, frame: Frame) -> None:
        node = next((n for n in frame.snapshot.nodes if n.node_id == self.node_id), None)
        title = Text(f" {node_name(node) if node else self.node_id[:12]} ", style="bold reverse")
        title.append(f"  node {self.node_id}", style="dim")
        if node is None:
            title.append("  (not in the current snapshot)", style="yellow")
        self.query_one("#node-title", Static).update(title)
        self.query_one("#node-info", Static).update(describe_node(node) if node else Text(""))
