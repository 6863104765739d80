"""What `raytop run --headless` costs next to the job it watches, in CPU seconds.

The demo (``demos/batch_inference.py``) runs under ``raytop run --headless`` at 1 Hz, recording
(the default). ``tree_cpu.TreeWatch`` splits the process tree: the script and everything below it
(its Ray cluster: GCS, raylet, agents, workers) is the job; raytop's process and its other
descendants (the bridge, the resource tracker) are raytop. CPU seconds do not depend on how loaded
the machine is the way wall times do, so the ratio holds on a shared box.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from benchmarks.common import ROOT, Measurement, child_env, compile_bytecode, median, skipped
from benchmarks.tree_cpu import TreeWatch, wait_unreaped

GROUP = "job"
DEMO = ROOT / "demos" / "batch_inference.py"
ID = "run_cpu_ratio_percent"
LABEL = "raytop CPU-s / job CPU-s, demo under run --headless, 1 Hz"
TARGET = 1.0
MB = 1e6


def _script_pid(root: psutil.Process) -> int | None:
    try:
        for child in root.children():
            if any(DEMO.name in arg for arg in child.cmdline()):
                return child.pid
    except psutil.Error:
        return None
    return None


def one_run(rows: int, workdir: Path, timeout: float = 420) -> dict:
    """One demo run under raytop; CPU seconds of each side and raytop's peak RSS."""
    cmd = [sys.executable, "-m", "raytop", "run", "--headless", "--record",
           str(workdir / "run.raytop"), "--force", str(DEMO), "--rows", str(rows)]
    proc = subprocess.Popen(cmd, cwd=workdir, env=child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    script: list[int | None] = [None]

    def job_root() -> int | None:
        if script[0] is None:
            script[0] = _script_pid(root)
        return script[0]

    watch = TreeWatch(proc.pid, period=0.2, job_root=job_root).start()
    if not wait_unreaped(proc.pid, timeout):
        proc.kill()
    usage = watch.final()
    code = proc.wait()
    if code != 0:
        raise RuntimeError(f"raytop run exited with {code}")
    raytop = {usage.names.get(p, str(p)): round(usage.cpu_s.get(p, 0.0), 3)
              for p in watch.raytop_pids if p in usage.cpu_s}
    return {"raytop_cpu_s": usage.cpu(watch.raytop_pids), "job_cpu_s": usage.cpu(watch.job_pids),
            "raytop_by_process": raytop,
            "raytop_rss_mb": round(usage.tree_rss_peak / MB, 1),
            "raytop_rss_by_process_mb": {usage.names.get(p, str(p)): round(usage.rss_peak[p] / MB, 1)
                                         for p in watch.raytop_pids if p in usage.rss_peak}}


def run(quick: bool, rounds: int = 2, rows: int = 60_000) -> list[Measurement]:
    if quick:
        return [skipped(ID, GROUP, LABEL, "%", TARGET,
                        "skipped in --quick (a 45 s demo run on 2 cores)")]
    runs, errors = [], []
    with tempfile.TemporaryDirectory(prefix="raytop-bench-run-") as tmp:
        for _ in range(rounds):
            try:
                runs.append(one_run(rows, Path(tmp)))
            except Exception as e:  # noqa: BLE001 - reported in the row
                errors.append(str(e))
    if not runs:
        return [skipped(ID, GROUP, LABEL, "%", TARGET, "runs failed: " + "; ".join(errors)[:300])]
    ratios = [r["raytop_cpu_s"] / r["job_cpu_s"] * 100 for r in runs]
    best = runs[ratios.index(median(ratios))] if len(runs) % 2 else runs[0]
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(best["raytop_by_process"].items()))
    return [Measurement(
        ID, GROUP, LABEL, "%", round(median(ratios), 2), TARGET,
        note=(f"raytop {best['raytop_cpu_s']:.2f} CPU-s ({parts}) vs job "
              f"{best['job_cpu_s']:.1f} CPU-s; raytop tree RSS peak {best['raytop_rss_mb']:.0f} MB"),
        detail={"rows": rows, "runs": runs, "ratios_percent": [round(r, 3) for r in ratios],
                "errors": errors})]


if __name__ == "__main__":
    import json

    compile_bytecode()
    for m in run(False, rounds=int(sys.argv[1]) if len(sys.argv) > 1 else 1):
        print(json.dumps(m.to_dict(), indent=1))
