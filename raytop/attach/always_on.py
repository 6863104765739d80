"""`raytop probe enable|disable|status`: the probe always on, and dormant, in a Python environment.

For machines where raytop cannot trace a driver (Kubernetes pods without ``SYS_PTRACE``, jobs
submitted from elsewhere), ``enable`` writes ``raytop-probe.pth`` into the environment's
site-packages. Python runs its one line at every interpreter start: it appends raytop's probe to
``RAY_DATA_EXECUTION_CALLBACKS`` (keeping what is there), so every Ray Data execution of that
environment carries the probe. The probe does nothing while no raytop listens (see
``raytop.probe``). The line costs one ``stat`` and one environment lookup; it does nothing when
raytop's package is gone, or when ``RAYTOP_PROBE=0``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from raytop.errors import RaytopError

PTH_NAME = "raytop-probe.pth"
CALLBACK = "raytop.probe.RaytopProbe"
ENV_VAR = "RAY_DATA_EXECUTION_CALLBACKS"
OPT_OUT = "RAYTOP_PROBE"


class AlwaysOnError(RaytopError):
    """The environment cannot be changed as asked; the message says why in one line."""


@dataclass(frozen=True)
class Environment:
    python: str
    site_packages: Path
    raytop_dir: Path | None  # where that environment imports raytop from, if it can

    @property
    def pth(self) -> Path:
        return self.site_packages / PTH_NAME


_INSPECT = ("import importlib.util, json, sysconfig; s = importlib.util.find_spec('raytop'); "
            "print(json.dumps({'purelib': sysconfig.get_paths()['purelib'], "
            "'raytop': list(s.submodule_search_locations)[0] if s else None}))")


def inspect_environment(python: str | None = None) -> Environment:
    exe = python or sys.executable
    try:
        out = subprocess.run([exe, "-I", "-c", _INSPECT], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        info = json.loads(out.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        raise AlwaysOnError(f"{exe} is not a Python interpreter raytop can inspect") from None
    raytop_dir = Path(info["raytop"]) if info.get("raytop") else None
    return Environment(python=exe, site_packages=Path(info["purelib"]), raytop_dir=raytop_dir)


def pth_line(raytop_dir: Path) -> str:
    """The one line Python runs at start-up (``site`` executes .pth lines that begin with
    ``import``)."""
    current = f"os.environ.get({ENV_VAR!r}, '')"
    return ("import os; "
            f"os.environ.get({OPT_OUT!r}) != '0' and os.path.isdir({str(raytop_dir)!r}) "
            f"and {CALLBACK!r} not in {current} "
            f"and os.environ.__setitem__({ENV_VAR!r}, "
            f"','.join(filter(None, ({current}, {CALLBACK!r}))))\n")


_IMPORT_PROBE = "import raytop.probe"


def probe_import_error(python: str) -> str | None:
    """Why the environment's jobs could not load the probe (Ray would fail them), or None."""
    try:
        res = subprocess.run([python, "-c", _IMPORT_PROBE], capture_output=True, text=True,
                             timeout=120, env=dict(os.environ, **{OPT_OUT: "0"}))
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if res.returncode == 0:
        return None
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {res.returncode}"


def enable(env: Environment) -> Path:
    if env.raytop_dir is None:
        raise AlwaysOnError(f"raytop is not installed in the environment of {env.python}: "
                            "install it there first (its jobs import the probe from it)")
    why = probe_import_error(env.python)
    if why is not None:  # every Ray Data job there would fail to build its callbacks
        raise AlwaysOnError(f"the probe does not load in the environment of {env.python} ({why}); "
                            "not enabled")
    try:
        tmp = env.pth.with_suffix(".pth.tmp")
        tmp.write_text(pth_line(env.raytop_dir))
        os.replace(tmp, env.pth)
    except OSError as e:
        raise AlwaysOnError(f"cannot write {env.pth}: {e.strerror or e}") from None
    return env.pth


def disable(env: Environment) -> bool:
    """True when there was a hook to remove."""
    try:
        env.pth.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as e:
        raise AlwaysOnError(f"cannot remove {env.pth}: {e.strerror or e}") from None


def status_lines(env: Environment) -> list:
    lines = [f"environment: {env.python} (site-packages {env.site_packages})"]
    if env.pth.exists():
        lines.append(f"probe: always on, dormant until raytop listens ({env.pth})")
    else:
        lines.append("probe: not enabled here (raytop probe enable)")
    if env.raytop_dir is None:
        lines.append("raytop: not importable in this environment; jobs cannot load the probe")
    current = os.environ.get(ENV_VAR, "")
    if CALLBACK in current and not env.pth.exists():
        lines.append(f"this shell: {ENV_VAR} names the probe")
    if os.environ.get(OPT_OUT) == "0":
        lines.append(f"this shell: {OPT_OUT}=0 turns the hook off")
    return lines
