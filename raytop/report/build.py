"""Assembles the report document (the JSON report; HTML and Markdown render the same document)."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any

from raytop.model import to_dict
from raytop.report.history import History
from raytop.report.summary import aggregate

REPORT_SCHEMA_VERSION = 1
MAX_EVENTS = 500  # a flapping source can log thousands; the report keeps the first ones


@dataclass(frozen=True)
class Report:
    doc: dict  # JSON-ready, validates against report.schema.json
    history: History


def json_safe(v: Any) -> Any:
    """NaN/inf become null: JSON has no such numbers and a reader must not see a made-up value."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


def _graphs(history: History, advice: dict, operators: list[dict]) -> dict:
    """dataset id -> its plan graph (``report.graph``), for every dataset with operators."""
    from raytop.report.graph import graph_doc

    out = {}
    for d in advice["datasets"]:
        one = graph_doc(history.snapshots, d["dataset_id"], operators,
                        advice["plan"].get(d["dataset_id"]), d.get("bottleneck_id"))
        if one is not None and one["nodes"]:
            out[d["dataset_id"]] = one
    return out


def build_report(history: History, baseline: History | None = None) -> Report:
    """The advisor's report data (suggestions, plan analysis, datasets) extended with the
    summary, per-dataset windows and per-operator aggregates, events and the comparison."""
    from raytop.analysis import report_data
    from raytop.analysis.progress import stall_s_of

    advice = report_data(history.snapshots, stall_s_of(history.meta))
    agg = aggregate(history)
    summary = dict(agg.summary)
    if summary["exit_code"] is None and history.meta.get("exit_code") is not None:
        summary["exit_code"] = history.meta.get("exit_code")
    ours = {d["dataset_id"]: d for d in agg.datasets}
    datasets = [{**d, **ours.get(d["dataset_id"], {})} for d in advice["datasets"]]
    datasets += [d for dsid, d in ours.items()
                 if dsid not in {x["dataset_id"] for x in advice["datasets"]}]
    events: list[dict] = [to_dict(ev) for ev in history.events[:MAX_EVENTS]]
    doc = {
        **advice,
        "schema": REPORT_SCHEMA_VERSION,
        "generated_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": summary,
        "datasets": datasets,
        "operators": agg.operators,
        "events": events,
        "events_total": len(history.events),
        "graphs": _graphs(history, advice, agg.operators),
    }
    if baseline is not None:
        from raytop.report.compare import compare

        before = build_report(baseline).doc
        doc["comparison"] = compare(before, doc)
    return Report(doc=json_safe(doc), history=history)
