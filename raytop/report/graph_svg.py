"""The plan graph as inline SVG for the HTML report: one box per physical operator on its lane
(column), in topological order top to bottom, edges from each input to its consumer labelled with
the blocks queued on them (mean / peak), a merge (zip, union, join) outlined, the bottleneck red.
No script and no external reference, like the rest of the report."""

from __future__ import annotations

from html import escape

from raytop import format as fmt

BOX_W, BOX_H = 300, 58
COL_GAP, ROW_GAP = 40, 46
PAD = 12


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _box(node: dict, x: float, y: float) -> str:
    cls = "gnode" + (" merge" if node["merge"] else "") + (" neck" if node["bottleneck"] else "")
    fused = node["logical"] if len(node["logical"]) > 1 else []
    line2 = " → ".join(fused) if fused else (node["physical_class"] or "")
    rate = fmt.fmt_rate_exact(node["rows_per_s"])
    line3 = f"{fmt.fmt_thousands(node['rows_out'])} rows · {rate} rows/s"
    if node["bottleneck"]:
        line3 += " · bottleneck"
    return (f'<g class="{cls}"><title>{escape(node["label"])}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            f'<text x="{x + 8}" y="{y + 17}" class="t1">{escape(_short(node["label"], 40))}</text>'
            f'<text x="{x + 8}" y="{y + 34}" class="t2">{escape(_short(line2, 50))}</text>'
            f'<text x="{x + 8}" y="{y + 50}" class="t3">{escape(line3)}</text></g>')


def _edge(edge: dict, start: tuple[float, float], end: tuple[float, float]) -> str:
    (x1, y1), (x2, y2) = start, end
    mid = y2 - ROW_GAP / 2
    path = f"M{x1},{y1} L{x1},{mid} L{x2},{mid} L{x2},{y2 - 4}" if x1 != x2 else \
        f"M{x1},{y1} L{x2},{y2 - 4}"
    cls = "gedge" + (" unfused" if edge["not_fused"] else "")
    q = edge["queued_blocks_mean"]
    label = (f"{fmt.fmt_number(q)} / {fmt.fmt_thousands(edge['queued_blocks_max'])} blk"
             f" · ≤{fmt.fmt_bytes(edge['queued_bytes_max'])}") if q is not None else ""
    why = "; ".join(r["text"] for r in edge["not_fused"])
    title = f"<title>not fused: {escape(why)}</title>" if why else ""
    return (f'<g class="{cls}">{title}<path d="{path}" marker-end="url(#arrow)"/>'
            f'<text x="{x1 + 6}" y="{y1 + 14}" class="elabel">{escape(label)}</text></g>')


def render_graph_svg(graph: dict) -> str:
    nodes: list[dict] = graph["nodes"]
    if not nodes:
        return ""
    pos: dict[str, tuple[float, float]] = {}
    for row, node in enumerate(nodes):
        pos[node["key"]] = (PAD + node["lane"] * (BOX_W + COL_GAP), PAD + row * (BOX_H + ROW_GAP))
    width = PAD * 2 + (max(n["lane"] for n in nodes) + 1) * (BOX_W + COL_GAP) - COL_GAP
    height = PAD * 2 + len(nodes) * (BOX_H + ROW_GAP) - ROW_GAP
    parts = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>'
             '</defs>']
    for edge in graph["edges"]:
        if edge["from"] in pos and edge["to"] in pos:
            (ux, uy), (dx, dy) = pos[edge["from"]], pos[edge["to"]]
            spread = (edge["input"] - (edge["inputs"] - 1) / 2) * 24 if edge["inputs"] > 1 else 0
            parts.append(_edge(edge, (ux + BOX_W / 2, uy + BOX_H), (dx + BOX_W / 2 + spread, dy)))
    parts += [_box(n, *pos[n["key"]]) for n in nodes]
    return (f'<svg class="plangraph" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="plan graph">{"".join(parts)}</svg>')
