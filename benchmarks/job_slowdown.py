"""What raytop costs the job it watches: demos/batch_inference.py run plain and under
`raytop run --headless`, interleaved (the order rotates each round so no configuration always
runs first or last), compared by median ratio to plain.

Two times per run: the pipeline's own time (the demo prints it; Ray startup excluded) and the
process wall time (what the user waits for, including Ray startup and raytop's shutdown).
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, Measurement, median, run_timed, skipped, tail

GROUP = "job slowdown"
DEMO = ROOT / "demos" / "batch_inference.py"
_PIPELINE_S = re.compile(r"classified \d+ images on \w+ in ([0-9.]+)s")

# name -> raytop run options (None: plain python)
CONFIGS: dict[str, list[str] | None] = {
    "plain": None,
    "no_record_1s": ["--no-record"],
    "record_1s": ["--record", "{rec}"],
    "record_0.1s": ["--interval", "0.1", "--record", "{rec}"],
}


def _command(config: str, rows: int, rec: Path) -> list[str]:
    opts = CONFIGS[config]
    script = [str(DEMO), "--rows", str(rows)]
    if opts is None:
        return [sys.executable, *script]
    return [sys.executable, "-m", "raytop", "run", "--headless",
            *[o.format(rec=rec) for o in opts], *script]


def _one(config: str, rows: int, workdir: Path, rnd: int) -> tuple[float, float, Path | None]:
    rec = workdir / f"{config}-{rnd}.raytop"
    res = run_timed(_command(config, rows, rec), cwd=workdir, timeout=420)
    m = _PIPELINE_S.search(res.stdout + res.stderr)
    if res.returncode != 0 or m is None:
        raise RuntimeError(f"{config} failed (exit {res.returncode}): {tail(res.stderr, 3)}")
    return float(m.group(1)), res.wall_s, rec if rec.exists() else None


def run(quick: bool, rounds: int = 3, rows: int = 20_000,
        keep_recordings: Path | None = None) -> tuple[list[Measurement], list[Path]]:
    labels = {
        "no_record_1s": ("job_slowdown_no_record", "job time ratio, run --headless --no-record, 1 s", 1.01),
        "record_1s": ("job_slowdown_default", "job time ratio, run --headless (records), 1 s default", 1.01),
        "record_0.1s": ("job_slowdown_0_1s", "job time ratio, run --headless (records), 0.1 s", None),
    }
    if quick:
        why = "skipped in --quick (each demo run takes 30-60 s on 2 cores)"
        return [skipped(mid, GROUP, label, "x", target, why) for mid, label, target in labels.values()], []
    names = list(CONFIGS)
    pipe: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    recordings: list[Path] = []
    workdir = Path(tempfile.mkdtemp(prefix="raytop-bench-job-"))
    errors: list[str] = []
    for rnd in range(rounds):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for name in order:
            try:
                p, w, rec = _one(name, rows, workdir, rnd)
            except Exception as e:  # noqa: BLE001 - a failed run is reported, the suite goes on
                errors.append(str(e))
                continue
            pipe[name].append(p)
            wall[name].append(w)
            if rec is not None and name == "record_1s":
                recordings.append(rec)
    if keep_recordings is not None:  # the demo recordings outlive the runs' directory
        keep_recordings.mkdir(parents=True, exist_ok=True)
        recordings = [Path(shutil.copy2(r, keep_recordings / r.name)) for r in recordings]
    else:
        recordings = []
    shutil.rmtree(workdir, ignore_errors=True)
    out = []
    for name, (mid, label, target) in labels.items():
        pairs = [(a, b) for a, b in zip(pipe[name], pipe["plain"], strict=False)]  # failed runs leave gaps
        if not pairs:
            out.append(skipped(mid, GROUP, label, "x", target,
                               "runs failed: " + ("; ".join(errors)[:300] or "no data")))
            continue
        ratio = median(pipe[name]) / median(pipe["plain"])
        wall_ratio = median(wall[name]) / median(wall["plain"])
        out.append(Measurement(
            mid, GROUP, label, "x", round(ratio, 3), target,
            compare="<=" if target is not None else "stated",
            note=(f"pipeline {median(pipe[name]):.1f} s vs plain {median(pipe['plain']):.1f} s;"
                  f" process wall ratio {wall_ratio:.2f}"),
            detail={"rows": rows, "rounds": rounds, "pipeline_s": pipe[name],
                    "plain_pipeline_s": pipe["plain"], "wall_s": [round(x, 2) for x in wall[name]],
                    "plain_wall_s": [round(x, 2) for x in wall["plain"]],
                    "wall_ratio": round(wall_ratio, 3), "errors": errors}))
    return out, recordings
