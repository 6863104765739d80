"""Before → after: a baseline report document against the current one.

Operators are matched by name (dataset ids differ between runs); a name that occurs in several
datasets of one run is numbered "name (#2)", "name (#3)" in dataset order. Suggestions are matched
by (rule, operator).
"""

from __future__ import annotations

# key in summary, label, value kind (for formatting), which direction is better
METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("rows_per_s", "Rows/s", "rate", "higher"),
    ("duration_s", "Duration", "duration", "lower"),
    ("active_s", "Dataset time", "duration", "lower"),
    ("rows", "Rows", "count", "none"),
    ("gpu_util_mean", "GPU util (mean)", "percent", "higher"),
    ("spilled_bytes_max", "Spilled (max)", "bytes", "lower"),
)


def _delta(before: float | None, after: float | None):
    if before is None or after is None:
        return None, None
    delta = after - before
    pct = None if before == 0 else delta / abs(before) * 100.0
    return delta, pct


def _verdict(delta: float | None, better: str) -> str | None:
    if delta is None or better == "none":
        return None
    if delta == 0:
        return "same"
    return "better" if (delta > 0) == (better == "higher") else "worse"


def _entry(before, after, better: str) -> dict:
    delta, pct = _delta(before, after)
    return {"before": before, "after": after, "delta": delta, "change_percent": pct,
            "verdict": _verdict(delta, better)}


def operator_keys(operators: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    seen: dict[str, int] = {}
    for op in operators:
        k = seen[op["name"]] = seen.get(op["name"], 0) + 1
        out[op["name"] if k == 1 else f"{op['name']} (#{k})"] = op
    return out


def _suggestion_key(s: dict) -> tuple[str, str | None]:
    return s["rule"], s.get("operator")


def _brief(s: dict) -> dict:
    return {"rule": s["rule"], "severity": s["severity"], "operator": s.get("operator"),
            "title": s["title"]}


def compare(before: dict, after: dict) -> dict:
    """The ``comparison`` section: ``before`` is the baseline's report document."""
    metrics = []
    for key, label, kind, better in METRICS:
        e = _entry(before["summary"].get(key), after["summary"].get(key), better)
        metrics.append({"key": key, "label": label, "kind": kind, "better": better, **e})
    ops_before, ops_after = operator_keys(before["operators"]), operator_keys(after["operators"])
    operators = []
    for name in list(ops_after) + [n for n in ops_before if n not in ops_after]:
        b, a = ops_before.get(name), ops_after.get(name)
        e = _entry(b and b["rows_per_s"], a and a["rows_per_s"], "higher")
        operators.append({"name": name, "in_baseline": b is not None, "in_current": a is not None,
                          **e})
    sb = {_suggestion_key(s): s for s in before["suggestions"]}
    sa = {_suggestion_key(s): s for s in after["suggestions"]}
    return {
        "baseline": before["summary"].get("recording"),
        "current": after["summary"].get("recording"),
        "metrics": metrics,
        "operators": operators,
        "suggestions": {
            "disappeared": [_brief(s) for k, s in sb.items() if k not in sa],
            "appeared": [_brief(s) for k, s in sa.items() if k not in sb],
            "remaining": [_brief(s) for k, s in sa.items() if k in sb],
        },
    }
