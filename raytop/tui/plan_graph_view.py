"""The plan as a graph in the terminal: one box per physical operator (the logical operators fused
into it inside), branches on lanes at the left joined where a zip, union or join reads them, and
on each edge the blocks and bytes queued between the two operators, plus why they were not fused.

A chain draws without lanes, as the plan screen always did. Pure text building (rich ``Text``);
the layout is ``raytop.plan_graph.lanes``, shared with the report's SVG.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from raytop.format import NA, fmt_bytes, fmt_count
from raytop.model import DatasetStats, LogicalOp, OperatorStats, Snapshot, op_key
from raytop.plan_graph import GraphNode, Placed, PlanGraph, build_graph, edge_queue, lanes
from raytop.tui import derive

MERGE_STYLE = "bold magenta"


def logical_line(op: LogicalOp) -> str:
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


class _Gutter:
    """The lane columns left of each line: "│" for an open branch, the marker on the node's."""

    def __init__(self, width: int) -> None:
        self.width = width

    def line(self, placed: Placed, marker: str | None = None, style: str = "cyan") -> Text:
        text = Text()
        for lane in range(self.width):
            if lane == placed.lane and marker:
                text.append(marker + " ", style=style)
            elif lane in placed.open_lanes:
                text.append("│ ", style="cyan")
            else:
                text.append("  ")
        return text

    def merge(self, placed: Placed) -> Text:
        """The line above a merge: its other inputs' lanes bend into its own (├─┴─┘)."""
        text = Text()
        last = max(placed.merged)
        before = set(placed.open_lanes) | set(placed.merged)
        for lane in range(self.width):
            if lane == placed.lane:
                glyph = "├"
            elif lane in placed.merged:
                glyph = "┘" if lane == last else "┴"
            elif placed.lane < lane < last:
                glyph = "┼" if lane in before else "─"
            else:
                glyph = "│" if lane in before else " "
            fill = "─" if placed.lane <= lane < last else " "
            text.append(glyph + fill, style=MERGE_STYLE if glyph != "│" else "cyan")
        return text


def _figures(op: OperatorStats | None, rate: float | None) -> str:
    if op is None:
        return "not in this snapshot"
    bits = [f"{fmt_count(rate) if rate is not None else NA} rows/s", f"rows {fmt_count(op.rows_out)}"]
    if op.tasks_running is not None:
        bits.append(f"run {op.tasks_running}")
    if op.actors is not None:
        bits.append(f"actors {NA if op.actors.running is None else op.actors.running}")
    if op.state == "FINISHED":
        bits.append("finished")
    return " · ".join(bits)


def short_label(node: GraphNode) -> str:
    """A consumer named on an edge: a long name (a zip's lists its inputs) shortened to its
    head and "#index"."""
    if len(node.label) <= 28:
        return node.label
    return f"{node.name.split('(')[0]} #{node.key.rsplit('_', 1)[-1]}"


class GraphView:
    """Everything one render needs, looked up once."""

    def __init__(self, ds: DatasetStats, analysis: Any, history: Sequence[Snapshot],
                 bottleneck: str | None, width: int = 100) -> None:
        self.ds, self.analysis, self.history, self.bottleneck = ds, analysis, history, bottleneck
        self.width = max(40, width)
        self.graph: PlanGraph = build_graph(ds)
        self.ops: dict[str, OperatorStats] = {op_key(o): o for o in ds.operators}
        self.logical = {lop.id: lop for lop in (ds.plan.logical if ds.plan else ())}
        self.placed = lanes(self.graph)
        width = max((max(p.open_lanes, default=0) for p in self.placed), default=0) + 1
        self.gutter = _Gutter(0 if self.graph.linear or not self.graph.edges_known else width)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if not self.graph.edges_known:
            text.append("Which operator feeds which is not known here (no plan capture and "
                        "several input buffers): operators in Ray's topology order.\n\n", style="dim")
        elif self.analysis is not None and not getattr(self.analysis, "reasons_known", True):
            text.append("Why adjacent operators were not fused is not known without the probe.\n\n",
                        style="dim")
        for placed in self.placed:
            node = self.graph.node(placed.key)
            if node is None:
                continue
            if placed.merged and self.gutter.width:
                text.append_text(self.gutter.merge(placed))
                text.append("\n")
            self._box(text, node, placed)
            self._edges(text, node, placed)
        return text

    def _box(self, text: Text, node: GraphNode, placed: Placed) -> None:
        merge = self.graph.is_merge(node.key)
        marker = "◆" if merge else "●"
        text.append_text(self.gutter.line(placed, marker, MERGE_STYLE if merge else "cyan"))
        text.append("╭─ ", style="cyan")
        text.append(node.physical_class or "operator", style="dim")
        hot = node.key == self.bottleneck
        text.append(" · ", style="dim")
        text.append(node.label, style="bold reverse red" if hot else "bold")
        if len(node.logical) > 1:
            text.append(f"  ({len(node.logical)} fused)", style="green")
        if merge:
            ups = [self.graph.node(k) for k in self.graph.upstream(node.key)]
            text.append(f"  joins {len(ups)} branches", style=MERGE_STYLE)
        text.append("\n")
        for lid, name in self._logical_rows(node):
            text.append_text(self.gutter.line(placed))
            text.append("│ ", style="cyan")
            lop = self.logical.get(lid)
            text.append(f"{name:<34}", style="bold")
            text.append(f" {logical_line(lop) if lop else ''}\n", style="dim")
        text.append_text(self.gutter.line(placed))
        text.append("╰─ ", style="cyan")
        rate = derive.op_rate(self.history, self.ds.dataset_id, node.key) if self.history else None
        text.append(_figures(self.ops.get(node.key), rate), style="dim")
        if hot:
            text.append(" · ◀ bottleneck", style="bold red")
        text.append("\n")

    def _logical_rows(self, node: GraphNode) -> list[tuple[str, str]]:
        if node.logical_ids:
            return [(i, self.logical[i].name) for i in node.logical_ids if i in self.logical]
        names = node.logical or (node.name,)
        return [] if names == (node.name,) and self.graph.is_merge(node.key) else [
            ("", name) for name in names]

    def _edges(self, text: Text, node: GraphNode, placed: Placed) -> None:
        consumers = [c for c in self.graph.consumers(node.key) if not c.source]
        if not self.graph.edges_known:
            return
        for consumer in consumers:
            index = consumer.inputs.index(node.key)
            blocks, nbytes = edge_queue(self.ops.get(node.key), self.ops.get(consumer.key), index)
            text.append_text(self.gutter.line(placed))
            text.append("   ↓ ", style="dim")
            text.append(f"{fmt_count(blocks)} blk · {fmt_bytes(nbytes)} queued", style="cyan")
            if not self.graph.linear:
                which = f" (input {index + 1} of {len(consumer.inputs)})" if len(consumer.inputs) > 1 else ""
                text.append(f" → {short_label(consumer)}{which}", style="dim")
            self._reasons(text, node, consumer, placed)
            text.append("\n")

    def _reasons(self, text: Text, node: GraphNode, consumer: GraphNode, placed: Placed) -> None:
        found = [b for b in getattr(self.analysis, "boundaries", ()) or ()
                 if not b.fused and b.upstream_op in (node.key, node.name)
                 and b.downstream_op in (consumer.key, consumer.name)]  # names: plans before op ids
        for b in found:
            # Without the probe every boundary reads "unknown": said once above the graph.
            reasons = [r for r in b.reasons if self.analysis.reasons_known or r.code != "unknown"]
            if not reasons:
                continue
            text.append("\n")
            text.append_text(self.gutter.line(placed))
            text.append(f"     not fused with {b.downstream_name}:", style="yellow")
            room = self.width - 2 * self.gutter.width - 9
            for reason in reasons:
                tag = "  (fixable)" if reason.fixable else "  (by design)"
                lines = textwrap.wrap(reason.text + tag, max(20, room)) or [""]
                for i, line in enumerate(lines):
                    text.append("\n")
                    text.append_text(self.gutter.line(placed))
                    text.append("       • " if i == 0 else "         ")
                    if i == len(lines) - 1 and line.endswith(tag.strip()):
                        text.append(line[: -len(tag.strip())])
                        text.append(tag.strip(), style="green" if reason.fixable else "dim")
                    else:
                        text.append(line)


def render_graph(ds: DatasetStats, analysis: Any, history: Sequence[Snapshot] = (),
                 bottleneck: str | None = None, width: int = 100) -> Text:
    return GraphView(ds, analysis, history, bottleneck, width).render()
