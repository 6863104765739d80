"""Run the suite, print the table, write JSON.

    python -m benchmarks [--quick] [--json FILE] [--only GROUP,...] [--runs N] [--demos A,B]

``--quick`` keeps every measurement working with tiny sizes (CI) and skips the demo job runs.
The ``diagnosis`` group (every planted-problem demo, ``--runs`` times) runs only when ``--only``
names it: it takes about half a minute per demo run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.common import Measurement, compile_bytecode, fmt_value, machine_info

GROUPS = ("job", "probe", "attach", "footprint", "scale", "sim", "recording", "startup",
          "diagnosis")
DEFAULT_GROUPS = tuple(g for g in GROUPS if g != "diagnosis")  # diagnosis: only when named


def _table(results: list[Measurement], info: dict, quick: bool, elapsed: float) -> str:
    rows = [("measurement", "value", "target", "met")]
    for m in results:
        met = {True: "yes", False: "NO", None: "-"}[m.met]
        if m.skipped:
            met = "skipped"
        rows.append((m.label, fmt_value(m), m.target_text, met))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"raytop benchmarks{' (--quick)' if quick else ''}: {info['cpu_count']} CPUs"
             f" ({info.get('cpu_model') or '?'}), Python {info['python']}, Ray {info['ray']},"
             f" load avg at start {' '.join(f'{x:.1f}' for x in info.get('load_avg_at_start', []))},"
             f" {elapsed:.0f} s", ""]
    lines.append(" | ".join(r.ljust(w[i]) for i, r in enumerate(rows[0])))
    lines.append("-|-".join("-" * x for x in w))
    lines += [" | ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in rows[1:]]
    notes = [f"- {m.label}: {m.skipped or m.note}" for m in results if m.skipped or m.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def _guard(name: str, fn: Callable[[], list[Measurement]], failures: list) -> list[Measurement]:
    t0 = time.perf_counter()
    print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
    try:
        out = fn()
    except Exception as e:  # noqa: BLE001 - one broken measurement must not hide the others
        traceback.print_exc()
        failures.append(f"{name}: {type(e).__name__}: {e}")
        return []
    print(f"[benchmarks] {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    for m in out:  # as measured: a run cut short keeps what it had (the table comes at the end)
        print(f"[benchmarks]   {m.label}: {m.value} {m.unit}, target {m.target_text}, {m.note}",
              file=sys.stderr, flush=True)
    return out


def _cluster_groups(groups, args, results: list, failures: list) -> None:
    """footprint and startup share one `ray start` cluster."""
    from benchmarks import footprint, startup
    from benchmarks.cluster import Cluster

    cluster = None
    try:
        cluster = Cluster().__enter__()
    except Exception as e:  # noqa: BLE001
        failures.append(f"cluster: {e}")
    try:
        if "footprint" in groups:
            results += _guard("footprint", lambda: footprint.run(args.quick, cluster), failures)
        if "startup" in groups:
            results += _guard("startup", lambda: startup.run(args.quick, cluster), failures)
    finally:
        if cluster is not None:
            cluster.__exit__()


def _run_groups(groups, args, results: list, failures: list) -> None:
    from benchmarks import attach, job_slowdown, probe_step, recording_cost, recording_scale, scale

    with tempfile.TemporaryDirectory(prefix="raytop-bench-") as tmp:
        recordings: list = []
        if "job" in groups:
            def job():
                out, recs = job_slowdown.run(args.quick, keep_recordings=Path(tmp) / "demo")
                recordings.extend(recs)
                return out
            results += _guard("job slowdown", job, failures)
            from benchmarks import run_cost

            results += _guard("job CPU", lambda: run_cost.run(args.quick), failures)
        if "probe" in groups:
            results += _guard("probe cost", lambda: probe_step.run(args.quick), failures)
        if "attach" in groups:
            results += _guard("attach", lambda: attach.run(args.quick), failures)
        if "scale" in groups:
            results += _guard("scale", lambda: scale.run(args.quick), failures)
        if "sim" in groups:
            from benchmarks import sim_read

            results += _guard("simulated cluster", lambda: sim_read.run(args.quick), failures)
        if "recording" in groups:
            results += _guard("recording", lambda: recording_cost.run(args.quick, recordings), failures)
            results += _guard("recording at scale", lambda: recording_scale.run(args.quick), failures)
        if "diagnosis" in groups:
            from benchmarks import diagnosis

            only = [d.strip() for d in args.demos.split(",")] if args.demos else None
            results += _guard("diagnosis", lambda: diagnosis.run(args.quick, max(1, args.runs), only,
                                                                  max(1, args.jobs)),
                              failures)
        if "footprint" in groups or "startup" in groups:
            _cluster_groups(groups, args, results, failures)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, no demo job runs (CI)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--only", default=None, help=f"comma-separated groups of {','.join(GROUPS)}")
    ap.add_argument("--runs", type=int, default=3, help="diagnosis: runs per demo (default 3)")
    ap.add_argument("--demos", default=None, help="diagnosis: only these demos (file stems)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="diagnosis: demo runs at a time (each its own 2-CPU cluster; default 1)")
    args = ap.parse_args(argv)
    groups = DEFAULT_GROUPS
    if args.only:
        groups = tuple(g.strip() for g in args.only.split(","))
        bad = [g for g in groups if g not in GROUPS]
        if bad:
            print(f"benchmarks: unknown group {bad[0]!r} (known: {', '.join(GROUPS)})", file=sys.stderr)
            return 2
    if args.json is not None and args.json.parent and not args.json.parent.is_dir():
        print(f"benchmarks: no such directory: {args.json.parent}", file=sys.stderr)
        return 2
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    compile_bytecode()
    started = time.time()
    info = machine_info()
    results: list[Measurement] = []
    failures: list[str] = []
    _run_groups(groups, args, results, failures)
    elapsed = time.time() - started
    print(_table(results, info, args.quick, elapsed))
    if failures:
        print("\nfailed: " + "; ".join(failures))
    if args.json is not None:
        args.json.write_text(json.dumps({
            "suite": "raytop benchmarks", "quick": args.quick, "groups": list(groups),
            "started_utc": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 1), "machine": info, "failures": failures,
            "measurements": [m.to_dict() for m in results]}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
