"""The report's tables as plain text cells, shared by the HTML and Markdown renderers."""

from __future__ import annotations

from raytop import format as fmt

Row = tuple[str, ...]

SECTIONS = (("summary", "Summary"), ("comparison", "Comparison"), ("suggestions", "Suggestions"),
            ("timelines", "Timelines"), ("plan", "Plan"), ("operators", "Operators"),
            ("percentiles", "Percentiles"), ("consumer", "Consumer"),
            ("datasets", "Datasets and events"))


def title(doc: dict) -> str:
    return f"raytop report: {doc['summary'].get('recording') or 'recording'}"


def summary_cards(doc: dict) -> list[tuple[str, str]]:
    s = doc["summary"]
    return [
        ("Duration", fmt.fmt_seconds(s["duration_s"])),
        ("Rows", fmt.fmt_thousands(s["rows"])),
        ("Rows/s", fmt.fmt_rate_exact(s["rows_per_s"])),
        ("GPU util (mean)", fmt.fmt_percent_exact(s["gpu_util_mean"])),
        ("Spilled (max)", fmt.fmt_bytes(s["spilled_bytes_max"])),
        ("Suggestions", str(len(doc["suggestions"]))),
    ]


def summary_rows(doc: dict) -> list[tuple[str, str]]:
    s = doc["summary"]
    states = ", ".join(f"{n} {state.lower()}" for state, n in sorted(s["dataset_states"].items()))
    gpus = str(s["gpus"]) + (f" ({', '.join(s['gpu_names'])})" if s["gpu_names"] else "")
    versions = fmt.NA if s["raytop_version"] is None else s["raytop_version"]
    if s["report_raytop_version"] != s["raytop_version"]:
        versions += f" (report by {s['report_raytop_version']})"
    store = fmt.fmt_bytes(s["object_store_used_max_bytes"])
    if s["object_store_capacity_bytes"] is not None:
        store += f" of {fmt.fmt_bytes(s['object_store_capacity_bytes'])}"
    rows = [
        ("Recording", s["recording"] or fmt.NA),
        ("Command", " ".join(s["command"]) if s["command"] else fmt.NA),
        ("Host", s["host"] or fmt.NA),
        ("Started", fmt.fmt_utc(s["start_t"])),
        ("Duration", f"{fmt.fmt_seconds(s['duration_s'])} ({s['snapshots']}"
                     + (f" of {s['snapshots_recorded']}" if s.get("snapshots_recorded") else "")
                     + " snapshots"
                     + (f", every {s['interval_s']:g} s)"
                        if isinstance(s["interval_s"], (int, float)) else ")")),
        ("Datasets", f"{s['datasets']}" + (f" ({states})" if states else "")),
        ("Rows / rows per second", f"{fmt.fmt_thousands(s['rows'])} / {fmt.fmt_rate_exact(s['rows_per_s'])}"
                                   f" over {fmt.fmt_seconds(s['active_s'])} of dataset time"),
        ("Ray version", s["ray_version"] or fmt.NA),
        ("raytop version", versions),
        ("Nodes / CPUs", f"{s['nodes']} / {fmt.fmt_number(s['cpus'], 0)}"),
        ("GPUs", gpus),
        ("GPU util mean / max",
         f"{fmt.fmt_percent_exact(s['gpu_util_mean'])} / {fmt.fmt_percent_exact(s['gpu_util_max'])}"),
        ("GPU memory (max, one GPU)", fmt.fmt_bytes(s["gpu_mem_max_bytes"])),
        ("Object store (max used)", store),
        ("Spilled (max)", fmt.fmt_bytes(s["spilled_bytes_max"])),
        ("Ray worker heap (max)", fmt.fmt_bytes(s["heap_max_bytes"])),
        ("Node memory (max)", fmt.fmt_percent_exact(s["node_mem_max_percent"])),
        ("Exit code", fmt.NA if s["exit_code"] is None else str(s["exit_code"])),
    ]
    for o in s.get("overrides") or ():
        calls = "changed no call" if o["calls"] == 0 else \
            f"{o['calls']} call(s)" if o["calls"] is not None else fmt.NA
        rows.append(("Override (--set)", f"{o['setting']}: {calls}"))
    gate = s.get("ci_gate")
    if gate:
        verdict = "failed: " + ", ".join(f"{f['severity']} {f['rule']}" for f in gate["findings"]) \
            if gate["failed"] else "passed"
        rows.append((f"CI gate (--fail-on {gate['level']})", verdict))
    if s["gaps"]:
        rows.append(("Gaps in the recording", str(s["gaps"])))
    for name, problem in s["sources_unavailable"].items():
        rows.append((f"Source {name}", f"{problem['status']} (in {problem['snapshots']} of "
                                       f"{s['snapshots']} snapshots)"))
    return rows


COMPARISON_HEADERS = ("Metric", "Before", "After", "Change")


def comparison_rows(cmp: dict) -> list[tuple[Row, str | None]]:
    """(cells, verdict) per metric and per operator throughput."""
    out: list[tuple[Row, str | None]] = []
    for m in cmp["metrics"]:
        out.append(((m["label"], fmt.fmt_by_kind(m["kind"], m["before"]),
                     fmt.fmt_by_kind(m["kind"], m["after"]), fmt.fmt_change(m["before"], m["after"])),
                    m["verdict"]))
    for op in cmp["operators"]:
        out.append(((f"{op['name']} rows/s", fmt.fmt_rate_exact(op["before"]),
                     fmt.fmt_rate_exact(op["after"]), fmt.fmt_change(op["before"], op["after"])),
                    op["verdict"]))
    return out


def suggestion_line(s: dict) -> str:
    return f"[{s['severity']}] {s['title']}" + (f" ({s['operator']})" if s.get("operator") else "")


def suggestion_meta(s: dict, start_t: float) -> str:
    parts = [f"rule {s['rule']}"]
    if s.get("operator"):
        parts.append(f"operator {s['operator']}")
    if s.get("dataset_id"):
        parts.append(f"dataset {s['dataset_id']}")
    if s.get("window"):
        a, b = s["window"]
        parts.append(f"seen {fmt.fmt_clock(a - start_t)}–{fmt.fmt_clock(b - start_t)}")
    return " · ".join(parts)


OPERATOR_HEADERS = ("Operator", "Runs as", "Rows", "Rows/s", "Tasks mean / max",
                    "In-queue blocks mean / max", "Actors run / pend (max)", "Backpressure",
                    "Heap max", "GPU mem max", "Avg task", "Avg block")
OPERATOR_NUMERIC = (False, False, True, True, True, True, True, False, True, True, True, True)


def operator_rows(doc: dict) -> list[Row]:
    multi = len(doc["datasets"]) > 1
    rows: list[Row] = []
    for op in doc["operators"]:
        runs_as = op["physical_class"] or op["compute"]
        actors = fmt.NA
        if op["actors_running_max"] is not None or op["actors_pending_max"] is not None:
            actors = (f"{fmt.fmt_thousands(op['actors_running_max'])} / "
                      f"{fmt.fmt_thousands(op['actors_pending_max'])}")
        bp = ", ".join(f"{flag} {fmt.fmt_seconds(sec)}" for flag, sec in op["backpressure_s"].items()
                       if sec > 0) or "none"
        rows.append((
            (f"{op['dataset_id']}: " if multi else "") + op["name"], runs_as,
            fmt.fmt_thousands(op["rows_out"]), fmt.fmt_rate_exact(op["rows_per_s"]),
            f"{fmt.fmt_number(op['tasks_running_mean'])} / {fmt.fmt_thousands(op['tasks_running_max'])}",
            f"{fmt.fmt_number(op['input_queue_blocks_mean'])} / "
            f"{fmt.fmt_thousands(op['input_queue_blocks_max'])}",
            actors, bp, fmt.fmt_bytes(op["heap_bytes_max"]), fmt.fmt_bytes(op["gpu_mem_bytes_max"]),
            fmt.NA if op["avg_task_s"] is None else fmt.fmt_seconds(op["avg_task_s"]),
            fmt.fmt_bytes(op["avg_block_bytes"]),
        ))
    return rows


PERCENTILE_HEADERS = ("Operator", "Task time p50 / p90 / p99", "Tasks", "Block size p50 / p90 / p99",
                      "Block rows p50 / p90 / p99")
PERCENTILE_NUMERIC = (False, True, True, True, True)
PERCENTILE_NOTE = ("From Ray Data's histograms, interpolated inside a bucket: as fine as Ray's "
                   "buckets (0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10 s ...); a value in the top bucket "
                   "is its lower bound.")


def _pcts(p: dict | None, fmt_fn) -> str:
    if p is None or not p.get("count"):
        return fmt.NA
    return fmt.fmt_percentiles(p["p50"], p["p90"], p["p99"], fmt_fn)


def percentile_rows(doc: dict) -> list[Row]:
    """One row per operator with a histogram reading (none without any: the section is left out)."""
    multi = len(doc["datasets"]) > 1
    rows: list[Row] = []
    for op in doc["operators"]:
        task, size, nrows = op.get("task_s"), op.get("block_bytes"), op.get("block_rows")
        if not any(p and p.get("count") for p in (task, size, nrows)):
            continue
        rows.append(((f"{op['dataset_id']}: " if multi else "") + op["name"],
                     _pcts(task, fmt.fmt_short_seconds),
                     fmt.fmt_thousands(task.get("count") if task else None),
                     _pcts(size, fmt.fmt_bytes), _pcts(nrows, fmt.fmt_count)))
    return rows


DATASET_HEADERS = ("Dataset", "State", "Started", "Duration", "Rows", "Rows/s", "Rows are",
                   "Bottleneck", "Error")
DATASET_NUMERIC = (False, False, False, True, True, True, False, False, False)


def dataset_rows(doc: dict) -> list[Row]:
    rows: list[Row] = []
    for d in doc["datasets"]:
        n = d.get("rows_out_max") if d.get("rows_out_max") is not None else d.get("rows_out")
        rows.append((d["dataset_id"], d.get("state") or fmt.NA, fmt.fmt_utc(d.get("window_start")),
                     fmt.fmt_seconds(d.get("duration_s")), fmt.fmt_thousands(n),
                     fmt.fmt_rate_exact(d.get("rows_per_s")),
                     d.get("rows_meaning") or fmt.NA, d.get("bottleneck") or fmt.NA,
                     d.get("error") or ""))
    return rows


CONSUMER_HEADERS = ("Dataset", "Own code", "Waiting for the pipeline", "First batch", "Batches",
                    "Rows", "Reading")
CONSUMER_NUMERIC = (False, True, True, True, True, True, False)


def _seconds_of(part: float, total: float) -> str:
    return fmt.fmt_seconds(part) + (f" ({fmt.fmt_share(part / total)})" if total > 0 else "")


def consumer_rows(doc: dict) -> list[Row]:
    """The driver's loop over each dataset it iterated (none for count(), writes, take, ...)."""
    rows: list[Row] = []
    for d in doc["datasets"]:
        c = d.get("consumer")
        if not c or c.get("user_s") is None or c.get("blocked_s") is None:
            continue
        total = c["user_s"] + c["blocked_s"]
        reading = (d.get("consumer_summary") or "").rpartition(": ")[2]
        rows.append((d["dataset_id"], _seconds_of(c["user_s"], total),
                     _seconds_of(c["blocked_s"], total),
                     fmt.fmt_seconds(c.get("first_batch_s")), fmt.fmt_thousands(c.get("batches")),
                     fmt.fmt_thousands(c.get("rows")), reading or fmt.NA))
    return rows


BOUNDARY_HEADERS = ("Upstream", "Downstream", "Fused", "Why not fused")


def graph_labels(doc: dict, dsid: str) -> dict:
    """op id -> display label ("name #index" where names repeat) from the report's graph."""
    graph = doc.get("graphs", {}).get(dsid) or {}
    return {n["key"]: n["label"] for n in graph.get("nodes", ())}


def _where(name: str, op: str | None, labels: dict) -> str:
    """A logical name, with the physical operator it runs in when that one's name repeats."""
    label = labels.get(op or "")
    return f"{name} (in {label})" if label and " #" in label else name


def boundary_rows(analysis: dict, labels: dict | None = None) -> list[tuple[Row, list[dict]]]:
    """(cells, reasons) per boundary between adjacent logical operators."""
    labels = labels or {}
    out: list[tuple[Row, list[dict]]] = []
    for b in analysis["boundaries"]:
        up = _where(b["upstream_name"], b.get("upstream_op"), labels)
        down = _where(b["downstream_name"], b.get("downstream_op"), labels)
        out.append(((up, down, "yes" if b["fused"] else "no", ""),
                    [] if b["fused"] else b["reasons"]))
    return out


def group_lines(analysis: dict, labels: dict | None = None) -> list[tuple[str, str]]:
    """(physical operator, "logical → logical") per fused group."""
    labels = labels or {}
    return [(labels.get(g.get("op_id") or "", g["physical"])
             + (f" [{g['physical_class']}]" if g["physical_class"] else ""),
             " → ".join(g["names"])) for g in analysis["groups"]]


def graph_edge_lines(graph: dict | None) -> list[str]:
    """"A → B (input 1 of 2), 3.2 / 8 blocks queued" per edge of a plan that is not a chain."""
    if not graph or graph["linear"] or not graph["edges_known"]:
        return []
    labels = {n["key"]: n["label"] for n in graph["nodes"]}
    out = []
    for e in graph["edges"]:
        which = f" (input {e['input'] + 1} of {e['inputs']})" if e["inputs"] > 1 else ""
        queued = (f", {fmt.fmt_number(e['queued_blocks_mean'])} / "
                  f"{fmt.fmt_thousands(e['queued_blocks_max'])} blocks queued (mean / peak)"
                  if e["queued_blocks_mean"] is not None else "")
        out.append(f"{labels.get(e['from'], e['from'])} → {labels.get(e['to'], e['to'])}{which}{queued}")
    return out


def reason_text(r: dict) -> str:
    return r["text"] + (" (fixable)" if r["fixable"] else "")


def event_line(ev: dict, start_t: float) -> str:
    where = f" [{ev['dataset_id']}]" if ev.get("dataset_id") else ""
    return f"{fmt.fmt_clock(ev['t'] - start_t)} {ev['kind']}{where} {ev.get('message') or ''}".rstrip()
