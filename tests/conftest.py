"""Shared fixtures. Tests that need Ray use the session-wide local cluster ``ray_cluster``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster for the whole session, shared by every Ray test.

    2 CPUs matches CI. Tests must not shut it down or change DataContext globally without
    restoring it.
    """
    import ray

    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 object_store_memory=300 * 1024 * 1024)
    yield ray
    ray.shutdown()


@pytest.fixture
def python_exe() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def demo_tmp(tmp_path_factory) -> Path:
    """Where demo runs shared across modules (tests/demos/demo_runs.py) keep their recordings."""
    return tmp_path_factory.mktemp("demos")
