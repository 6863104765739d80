"""What every measurement shares: the result record, statistics, machine facts, child processes."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Measurement:
    """One figure against its target. ``value`` is None only when ``skipped`` says why."""

    id: str
    group: str
    label: str
    unit: str
    value: float | None
    target: float | None = None  # None: the figure is stated, with no target
    compare: str = "<="  # "<=" | ">=" | "stated"
    skipped: str | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value <= self.target if self.compare == "<=" else self.value >= self.target

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "stated"
        return f"{'≤' if self.compare == '<=' else '≥'} {self.target:g} {self.unit}".strip()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["met"] = self.met
        d["target_text"] = self.target_text
        return d


def skipped(id: str, group: str, label: str, unit: str, target: float | None, why: str,
            compare: str = "<=") -> Measurement:
    return Measurement(id=id, group=group, label=label, unit=unit, value=None, target=target,
                       compare=compare if target is not None else "stated", skipped=why)


def _num(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.3g}" if abs(v) < 2 else f"{v:.2f}"
    return f"{v:.3g}"


def fmt_value(m: Measurement) -> str:
    return "-" if m.value is None else f"{_num(m.value)} {m.unit}".strip()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def machine_info() -> dict:
    import ray

    info = {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "ray": ray.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    try:
        import psutil
        import textual

        info["textual"] = getattr(textual, "__version__", None)
        info["mem_total_bytes"] = psutil.virtual_memory().total
        info["load_avg_at_start"] = list(os.getloadavg())
    except Exception:  # noqa: BLE001 - optional facts
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in fh
                                      if ln.startswith("model name")), None)
    except OSError:
        info["cpu_model"] = None
    return info


def compile_bytecode() -> None:
    """Byte-compile raytop as ``pip install`` does. A checkout used in place (and a
    ``PYTHONDONTWRITEBYTECODE`` environment) would otherwise compile every module at every
    start: ~0.25 CPU-seconds that an installed raytop never pays."""
    import compileall

    compileall.compile_dir(str(ROOT / "raytop"), quiet=1)


def child_env(extra: dict | None = None) -> dict:
    """The environment for child processes: raytop importable from this checkout, no Ray address
    inherited (a script's own ``ray.init()`` must start its own local cluster), quiet progress."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",)}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    if extra:
        env.update(extra)
    return env


@dataclass
class Timed:
    wall_s: float
    returncode: int
    stdout: str
    stderr: str


def run_timed(cmd: list[str], *, cwd: Path | None = None, timeout: float = 600,
              env: dict | None = None) -> Timed:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env or child_env(), capture_output=True, text=True,
                       timeout=timeout)
    return Timed(time.perf_counter() - t0, p.returncode, p.stdout, p.stderr)


def tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
