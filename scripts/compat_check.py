"""Checks of one `raytop run --headless` recording and its JSON report, for scripts/compat.sh.

    python scripts/compat_check.py RECORDING REPORT_JSON ROWS

Prints one line per check (``PASS``/``FAIL``) and ``INFO`` lines naming what raytop never knew
during the run: operator and plan fields that stayed unknown (``None``) in every snapshot, and
sources that were never ``ok``. Compare those lines between Ray versions to see what a version
lacks. Exits 1 when a check fails.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable

from raytop.model import DatasetStats, LogicalOp, OperatorStats, Snapshot
from raytop.recording import RecordingReader

# None by design on demos/healthy.py (no actor pool, no GPU) or not read from Ray (a rate the
# views compute): never evidence that a version lacks something.
_NOT_APPLICABLE = {"actors", "gpu_mem_bytes", "rows_per_s"}


def _never_known(objs: Iterable[object], cls: type, skip: set[str]) -> list[str]:
    """Fields of ``cls`` that are None (or empty) in every one of ``objs``."""
    fields = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    seen: set[str] = set()
    for obj in objs:
        seen.update(n for n in fields if getattr(obj, n) not in (None, (), {}))
    return [n for n in fields if n not in seen]


def _probe_datasets(snaps: list[Snapshot]) -> list[DatasetStats]:
    return [d for s in snaps for d in s.datasets if d.source == "probe"]


def _unhealthy_sources(snaps: list[Snapshot]) -> list[str]:
    """Sources never ``ok`` in the run, with their last status."""
    last = {}
    ok: set[str] = set()
    for s in snaps:
        for name, status in s.sources.items():
            last[name] = status
            if status == "ok":
                ok.add(name)
    return [f"{n}={last[n]}" for n in sorted(last) if n not in ok]


def check_report(report: dict, rows: int) -> tuple[bool, str]:
    datasets = report.get("datasets") or []
    plan = report.get("plan") or {}
    groups = sum(len(p.get("groups") or ()) for p in plan.values())
    rows_out = [d.get("rows_out") for d in datasets]
    ok = len(datasets) == 1 and rows_out == [rows] and groups >= 2 and bool(report.get("operators"))
    return ok, (f"report: {len(datasets)} dataset(s), rows_out={rows_out} (want [{rows}]), "
                f"plan groups={groups}, operators={len(report.get('operators') or [])}")


def check_recording(snaps: list[Snapshot]) -> tuple[bool, str]:
    probe = _probe_datasets(snaps)
    final = probe[-1] if probe else None
    logical = len(final.plan.logical) if final and final.plan else 0
    ok = final is not None and final.state == "FINISHED" and logical >= 3
    state = final.state if final else None
    return ok, f"recording: {len(snaps)} snapshots, probe dataset state={state}, logical ops={logical}"


def never_known_lines(snaps: list[Snapshot]) -> list[str]:
    probe = _probe_datasets(snaps)
    ops: list[OperatorStats] = [o for d in probe for o in d.operators
                                if o.physical_class != "InputDataBuffer"]
    lops: list[LogicalOp] = [lop for d in probe if d.plan for lop in d.plan.logical]
    op_gaps = _never_known(ops, OperatorStats, _NOT_APPLICABLE)
    plan_gaps = _never_known(lops, LogicalOp, set())
    return [f"operator fields never known: {', '.join(op_gaps) or '-'}",
            f"plan fields never known: {', '.join(plan_gaps) or '-'}",
            f"sources never ok: {', '.join(_unhealthy_sources(snaps)) or '-'}"]


def main(argv: list[str]) -> int:
    recording, report_path, rows = argv[0], argv[1], int(argv[2])
    with RecordingReader(recording) as reader:
        snaps = list(reader.iter_snapshots())
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    failed = False
    for ok, line in (check_report(report, rows), check_recording(snaps)):
        print(f"{'PASS' if ok else 'FAIL'}  {line}")
        failed |= not ok
    for line in never_known_lines(snaps):
        print(f"INFO  {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
