"""Diagnosis: does raytop name a planted problem, run after run?

Every demo that plants a problem (``demos/misconfigured/``, ``demos/consumers/``,
``demos/failures/``) and the healthy control run ``--runs`` times each, one after another, the
way a user would judge them: ``raytop run --headless --record`` then ``raytop report --format
json``. Per demo it counts the runs in which the planted rule was raised (at warning or above,
or at the severity it plants), in which it came first, and in which something else was raised at
warning or above; on the healthy demo, the runs with anything at warning or above. Target: named
in >= 90 % of the runs; nothing at warning on the healthy demo.

Not part of the default run (``python -m benchmarks``): it takes about half a minute per demo
run. ``python -m benchmarks --only diagnosis --runs 10 [--demos count,take] [--jobs N]``; with
``RAYTOP_DIAGNOSIS_KEEP=<folder>`` the recordings of the runs that missed are kept there.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import ROOT, Measurement, child_env, run_timed, skipped, tail

GROUP = "diagnosis"
KEEP_ENV = "RAYTOP_DIAGNOSIS_KEEP"  # a folder: the recordings of runs that missed are copied there
NAMED_TARGET = 0.9
WARN = ("warning", "critical")


@dataclass(frozen=True)
class Demo:
    path: str  # relative to the repository
    rule: str | None  # the planted rule; None for the healthy control
    severity: tuple[str, ...] = WARN  # the severities that count as naming it
    needs: tuple[str, ...] = ()  # "torch", "cuda": skipped where missing

    @property
    def name(self) -> str:
        return Path(self.path).stem


DEMOS: tuple[Demo, ...] = (
    Demo("demos/healthy.py", None),
    *(Demo(f"demos/misconfigured/{n}.py", r) for n, r in (
        ("spilling", "spilling"), ("object_store_pressure", "object-store-pressure"),
        ("small_blocks", "small-blocks"), ("large_blocks", "large-blocks"),
        ("input_starved", "input-starved"), ("actor_pool_undersized", "actor-pool-undersized"),
        ("gpu_oversubscribed", "gpu-oversubscribed"),
        ("gpu_pool_beyond_cluster", "gpu-oversubscribed"),
        ("stateless_model", "stateless-model"), ("fusion_break", "fusion-break"),
        ("heap_pressure", "heap-pressure"))),
    *(Demo(f"demos/consumers/{n}.py", "actor-pool-undersized") for n in (
        "write_parquet", "count", "take", "iter_batches", "materialize", "to_pandas")),
    Demo("demos/consumers/iter_torch_batches.py", "actor-pool-undersized", needs=("torch",)),
    Demo("demos/consumers/consumer_bound.py", "consumer-bound"),
    Demo("demos/failures/udf_error.py", "dataset-failed", ("critical",)),
    Demo("demos/failures/actor_crash.py", "actor-restarts"),
    Demo("demos/failures/ray_oom_killer.py", "heap-pressure", ("critical",)),
    Demo("demos/failures/cuda_oom.py", "gpu-memory-risk", ("critical",), needs=("torch", "cuda")),
)


@dataclass
class Tally:
    demo: Demo
    runs: int = 0
    named: int = 0  # the planted rule raised at its severity
    first: int = 0  # ... and first among the findings at warning or above
    other: int = 0  # runs with another rule at warning or above
    others: dict[str, int] = field(default_factory=dict)  # which ones, in how many runs
    errors: list[str] = field(default_factory=list)  # runs that did not give a report

    def add(self, suggestions: Sequence[dict]) -> None:
        self.runs += 1
        warn = [s for s in suggestions if s["severity"] in WARN]
        planted = self.demo.rule
        self.named += any(s["rule"] == planted and s["severity"] in self.demo.severity for s in warn)
        self.first += bool(warn) and warn[0]["rule"] == planted
        other = sorted({s["rule"] for s in warn if s["rule"] != planted})
        self.other += bool(other)
        for rule in other:
            self.others[rule] = self.others.get(rule, 0) + 1


def missing_need(demo: Demo) -> str | None:
    for need in demo.needs:
        if need == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                return "needs PyTorch"
        if need == "cuda":
            try:
                import torch

                if not torch.cuda.is_available():
                    return "needs a CUDA GPU"
            except ImportError:
                return "needs PyTorch with CUDA"
    return None


def run_once(demo: Demo, workdir: Path, index: int) -> list[dict]:
    """One run of ``demo`` under raytop and its JSON report's suggestions."""
    rec, out = workdir / f"{demo.name}-{index}.raytop", workdir / f"{demo.name}-{index}.json"
    env = child_env({"RAY_ADDRESS": "local"})  # its own cluster, even beside a `ray start` one
    res = run_timed([sys.executable, "-m", "raytop", "run", "--headless", "--interval", "0.5",
                     "--record", str(rec), str(ROOT / demo.path)], cwd=workdir, timeout=420, env=env)
    if not rec.exists():
        raise RuntimeError(f"no recording (exit {res.returncode}): {tail(res.stderr, 3)}")
    rep = run_timed([sys.executable, "-m", "raytop", "report", str(rec), "--format", "json",
                     "-o", str(out), "--force"], cwd=workdir, timeout=300, env=env)
    if rep.returncode != 0:
        raise RuntimeError(f"report failed: {tail(rep.stderr, 3)}")
    suggestions = json.loads(out.read_text())["suggestions"]
    keep = os.environ.get(KEEP_ENV)
    named = any(s["rule"] == demo.rule and s["severity"] in demo.severity for s in suggestions)
    warned = [s for s in suggestions if s["severity"] in WARN and s["rule"] != demo.rule]
    if keep and (not named and demo.rule or warned):  # a miss: keep it to look at
        shutil.copy(rec, Path(keep) / rec.name)
    rec.unlink(missing_ok=True)
    return suggestions


def tally(demo: Demo, runs: int, workdir: Path) -> Tally:
    t = Tally(demo)
    for i in range(runs):
        print(f"[diagnosis] {demo.name} run {i + 1}/{runs}", file=sys.stderr, flush=True)
        try:
            t.add(run_once(demo, workdir, i))
        except Exception as e:  # noqa: BLE001 - a run that gives no report counts as not named
            t.runs += 1
            t.errors.append(f"{type(e).__name__}: {e}")
    return t


def table(tallies: Sequence[Tally]) -> str:
    rows = [("demo", "planted rule", "named", "first", "other warning", "which")]
    for t in tallies:
        which = ", ".join(f"{r} {n}" for r, n in sorted(t.others.items())) or "-"
        if t.errors:
            which += f" [{len(t.errors)} run(s) without a report]"
        rule = t.demo.rule or "(healthy: none)"
        named = f"{t.named}/{t.runs}" if t.demo.rule else "-"
        first = f"{t.first}/{t.runs}" if t.demo.rule else "-"
        rows.append((t.demo.name, rule, named, first, f"{t.other}/{t.runs}", which))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (x + 2) for x in w) + "|")
    return "\n".join(lines)


def _measurement(t: Tally) -> Measurement:
    if t.demo.rule is None:
        return Measurement(id="diagnosis_healthy_warned", group=GROUP, unit="runs",
                           label="healthy demo: runs with a warning", value=float(t.other),
                           target=0.0, detail={"runs": t.runs, "others": t.others})
    return Measurement(id=f"diagnosis_{t.demo.name}", group=GROUP, unit="%",
                       label=f"{t.demo.name}: {t.demo.rule} named",
                       value=100.0 * t.named / t.runs if t.runs else None,
                       target=100 * NAMED_TARGET, compare=">=",
                       detail={"runs": t.runs, "named": t.named, "first": t.first,
                               "other": t.other, "others": t.others, "errors": t.errors[:3]})


def tally_parallel(demos: Sequence[Demo], runs: int, workdir: Path, jobs: int) -> list[Tally]:
    """Every run of every demo, ``jobs`` at a time (each demo starts its own 2-CPU Ray cluster,
    so a machine with 3 cores per job judges them as the 2-core one does)."""
    from concurrent.futures import ThreadPoolExecutor

    tallies = {d.name: Tally(d) for d in demos}

    def one(demo: Demo, i: int) -> tuple[Demo, list[dict] | None, str | None]:
        print(f"[diagnosis] {demo.name} run {i + 1}/{runs}", file=sys.stderr, flush=True)
        try:
            return demo, run_once(demo, workdir, i), None
        except Exception as e:  # noqa: BLE001 - a run that gives no report counts as not named
            return demo, None, f"{type(e).__name__}: {e}"

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for demo, suggestions, error in pool.map(lambda a: one(*a),
                                                 [(d, i) for i in range(runs) for d in demos]):
            t = tallies[demo.name]
            if suggestions is not None:
                t.add(suggestions)
            else:
                t.runs += 1
                t.errors.append(error or "no report")
    return [tallies[d.name] for d in demos]


def run(quick: bool, runs: int = 3, only: Sequence[str] | None = None,
        jobs: int = 1) -> list[Measurement]:
    demos = [d for d in DEMOS if not only or d.name in only]
    if quick:
        return [skipped(f"diagnosis_{d.name}", GROUP, d.name, "%", None,
                        "skipped in --quick (half a minute per demo run)") for d in demos]
    workdir = Path(tempfile.mkdtemp(prefix="raytop-bench-diagnosis-"))
    out: list[Measurement] = []
    ready = []
    for demo in demos:
        why = missing_need(demo)
        if why:
            out.append(skipped(f"diagnosis_{demo.name}", GROUP, demo.name, "%", None, why))
        else:
            ready.append(demo)
    try:
        if jobs > 1:
            tallies = tally_parallel(ready, runs, workdir, jobs)
        else:
            tallies = [tally(demo, runs, workdir) for demo in ready]
        out += [_measurement(t) for t in tallies]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ndiagnosis, {runs} run(s) per demo, {jobs} at a time:\n{table(tallies)}\n", flush=True)
    return out
