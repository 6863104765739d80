"""Pure analysis over snapshots: fusion plan analysis, bottleneck, tuning advisor.

Imports neither Ray nor Textual (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model import ConsumerStats, DatasetStats, Plan, Snapshot, op_key, op_labels, to_dict


def report_data(history: Sequence[Snapshot], stall_s: float | None = None) -> dict:
    """The JSON-ready core of a report: suggestions, plan analysis per dataset, dataset summaries.
    ``stall_s``: the stall threshold the recording was made with (None: the default)."""
    from .advisor import advise, suggestion_to_dict
    from .bottleneck import find_bottleneck
    from .consumer import consumer_summary
    from .plan import analyze_plan, plan_analysis_to_dict

    snaps = sorted(history, key=lambda s: s.t)
    plans: dict[str, Plan] = {}
    last: dict[str, DatasetStats] = {}
    consumers: dict[str, ConsumerStats] = {}  # the latest reading of each dataset's loop
    for s in snaps:
        for d in s.datasets:
            last[d.dataset_id] = d
            if d.consumer is not None:
                consumers[d.dataset_id] = d.consumer
            if d.plan is not None:
                plans[d.dataset_id] = d.plan
    datasets: list[dict] = []
    for ds_id, d in last.items():
        labels = op_labels(d.operators)
        neck = find_bottleneck(snaps, ds_id, plans)
        datasets.append({
            "dataset_id": ds_id, "state": d.state, "job_id": d.job_id,
            "rows_out": d.rows_out, "rows_total": d.rows_total,
            "rows_meaning": d.rows_meaning, "rows_op_id": d.rows_op_id,
            "start_time": d.start_time, "end_time": d.end_time, "error": d.error,
            "operators": [labels[op_key(o)] for o in d.operators],
            "operator_ids": [op_key(o) for o in d.operators],
            "bottleneck": labels.get(neck, neck) if neck else None,
            "bottleneck_id": neck,
            "plan_source": plans[ds_id].source if ds_id in plans else None,
            "consumer": to_dict(consumers[ds_id]) if ds_id in consumers else None,
            "consumer_summary": consumer_summary(consumers.get(ds_id)),
        })
    return {
        "suggestions": [suggestion_to_dict(s) for s in advise(snaps, stall_s)],
        "plan": {ds_id: plan_analysis_to_dict(analyze_plan(p)) for ds_id, p in plans.items()},
        "datasets": datasets,
    }


__all__ = ["report_data"]
