"""Attach tests run against a real `ray start` cluster, with jobs started by plain `python`."""

from __future__ import annotations

import pytest

from tests.attach.cluster import RayStartCluster


@pytest.fixture(scope="package")
def ray_start(tmp_path_factory):
    cluster = RayStartCluster(tmp_path_factory.mktemp("ray-start"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
