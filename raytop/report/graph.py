"""The plan graph of each dataset for the report: operators placed on lanes, edges with the blocks
queued on them over the run, and why they were not fused. JSON-ready (``doc["graphs"]``); the
HTML report draws it as SVG (``graph_svg``). Pure."""

from __future__ import annotations

from collections.abc import Sequence

from raytop.model import DatasetStats, Snapshot, op_key
from raytop.plan_graph import PlanGraph, build_graph, edge_queue, lanes


def _last(snaps: Sequence[Snapshot], ds_id: str) -> DatasetStats | None:
    for s in reversed(snaps):
        d = s.dataset(ds_id)
        if d is not None and d.operators:
            return d
    return None


def _edge_figures(snaps: Sequence[Snapshot], ds_id: str, up: str, down: str, index: int) -> dict:
    """Mean and peak blocks, and peak bytes, queued between ``up`` and ``down`` while running."""
    blocks: list[int] = []
    peak_bytes: int | None = None
    for s in snaps:
        d = s.dataset(ds_id)
        if d is None or d.state not in ("RUNNING", None):
            continue
        ops = {op_key(o): o for o in d.operators}
        b, n = edge_queue(ops.get(up), ops.get(down), index)
        if b is not None:
            blocks.append(b)
        if n is not None:
            peak_bytes = n if peak_bytes is None else max(peak_bytes, n)
    return {"queued_blocks_mean": sum(blocks) / len(blocks) if blocks else None,
            "queued_blocks_max": max(blocks) if blocks else None,
            "queued_bytes_max": peak_bytes}


def _reasons(plan_doc: dict | None, up: str, up_name: str, down: str, down_name: str) -> list:
    out = []
    for b in (plan_doc or {}).get("boundaries", ()):
        if b["fused"] or b.get("upstream_op") not in (up, up_name) or \
                b.get("downstream_op") not in (down, down_name):
            continue
        known = (plan_doc or {}).get("reasons_known", True)
        out += [{"text": r["text"], "fixable": r["fixable"]} for r in b["reasons"]
                if known or r["code"] != "unknown"]
    return out


def _edges(graph: PlanGraph, snaps, ds_id: str, plan_doc: dict | None) -> list[dict]:
    edges = []
    for node in graph.nodes:
        for index, up in enumerate(node.inputs):
            up_node = graph.node(up)
            if up_node is None or up_node.source or node.source:
                continue
            edges.append({"from": up, "to": node.key, "input": index, "inputs": len(node.inputs),
                          **_edge_figures(snaps, ds_id, up, node.key, index),
                          "not_fused": _reasons(plan_doc, up, up_node.name, node.key, node.name)})
    return edges


def graph_doc(snaps: Sequence[Snapshot], ds_id: str, operators: Sequence[dict],
              plan_doc: dict | None, bottleneck: str | None) -> dict | None:
    """``operators``: the report's per-operator aggregates (rows, rows/s) of this dataset."""
    d = _last(snaps, ds_id)
    if d is None:
        return None
    plan = next((p for s in reversed(snaps)
                 if (sd := s.dataset(ds_id)) is not None and (p := sd.plan) is not None), None)
    graph = build_graph(d, plan)
    figures: dict[str, dict] = {o.get("op_id") or o["name"]: o for o in operators
                                if o["dataset_id"] == ds_id}
    nodes = []
    for placed in lanes(graph):
        node = graph.node(placed.key)
        if node is None:
            continue
        fig = figures.get(node.key, {})
        nodes.append({"key": node.key, "label": node.label, "physical_class": node.physical_class,
                      "logical": list(node.logical), "lane": placed.lane,
                      "merge": graph.is_merge(node.key), "rows_out": fig.get("rows_out"),
                      "rows_per_s": fig.get("rows_per_s"), "bottleneck": node.key == bottleneck})
    return {"edges_known": graph.edges_known, "linear": graph.linear, "nodes": nodes,
            "edges": _edges(graph, snaps, ds_id, plan_doc) if graph.edges_known else []}
