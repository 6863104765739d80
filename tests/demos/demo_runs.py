"""Demo scripts run under `raytop run --headless`, once per test session, shared by the modules
that judge them (each demo takes 20-40 s on 2 cores)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from raytop.analysis.advisor import advise
from raytop.model import Snapshot, Suggestion
from raytop.recording import RecordingReader

ROOT = Path(__file__).resolve().parents[2]
DEMOS = ROOT / "demos" / "misconfigured"

Run = tuple[Path, tuple[Snapshot, ...], tuple[Suggestion, ...]]
_runs: dict[str, Run] = {}
gate_results: dict[str, tuple[int, str]] = {}  # demo -> (exit code, stderr) under --fail-on warning


def run_demo(script: Path, tmp_root: Path, exits=(0, 3)) -> Run:
    """(recording, snapshots, suggestions) of ``script`` under raytop, run once per session,
    as a CI would: with ``--fail-on warning`` (exit 3 when a warning was raised). ``exits``: the
    exit codes expected (a demo that plants a failure exits with the script's own 1)."""
    key = str(script)
    if key not in _runs:
        rec = tmp_root / f"{script.stem}.raytop"
        res = subprocess.run([sys.executable, "-m", "raytop", "run", "--headless", "--interval",
                              "0.5", "--fail-on", "warning", "--record", str(rec), str(script)],
                             capture_output=True, text=True, cwd=tmp_root, timeout=300,
                             # its own local cluster, even while a `ray start` one runs here
                             env=dict(os.environ, RAY_ADDRESS="local"))
        assert res.returncode in exits, res.stderr[-3000:]
        gate_results[key] = (res.returncode, res.stderr)
        with RecordingReader(rec) as reader:
            snaps = tuple(reader.iter_snapshots())
        _runs[key] = (rec, snaps, advise(snaps))
    return _runs[key]


def warnings_of(sugs) -> list:
    return [s for s in sugs if s.severity in ("warning", "critical")]


def describe(sugs) -> str:
    return "\n".join(f"{s.severity} {s.rule} {s.operator}: {s.evidence}" for s in sugs) or "(none)"
