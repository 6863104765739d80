"""The repository stays ruff clean and mypy clean (config in pyproject.toml).

Both run as the developer would, from the repository root. mypy keeps its cache outside the
working tree, in a per-checkout folder of the system's temp dir, so a rerun takes seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)


def test_ruff_clean():
    r = _run("ruff", "check", ".", "--no-cache")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_clean():
    key = hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"raytop-mypy-cache-{key}"
    r = _run("mypy", "--cache-dir", str(cache))
    assert r.returncode == 0, r.stdout + r.stderr
