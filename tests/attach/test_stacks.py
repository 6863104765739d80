"""`raytop stacks --operator NAME`: py-spy stacks of a running operator's busiest worker."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.attach.helpers import JOBS, wait_until

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300),
              pytest.mark.skipif(shutil.which("py-spy") is None, reason="py-spy not installed")]


@pytest.fixture(scope="module")
def busy_job(ray_start, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("busy")
    ready, stop = tmp / "ready", tmp / "stop"
    proc = subprocess.Popen([sys.executable, str(JOBS / "busy_actors.py"), str(ready), str(stop)],
                            env=ray_start.env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_until(ready.exists, 180, "the model actor to work", poll_s=0.2)
        yield ray_start
    finally:
        stop.touch()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def _stacks(cluster, *args, env=None):
    return subprocess.run([sys.executable, "-m", "raytop", "stacks", "--address", cluster.address,
                           *args], env=env or cluster.env(), capture_output=True, text=True,
                          timeout=180)


def test_stacks_of_the_busy_actor_show_its_udf(busy_job):
    res = _stacks(busy_job, "--operator", "MapBatches(SlowModel)", "-n", "1")
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert out.startswith("stacks of MapBatches(SlowModel): 1 worker(s)")
    assert "ray::MapWorker(MapBatches(SlowModel))" in out
    assert "__call__" in out and "busy_actors.py" in out  # the UDF's own frame


def test_an_operator_with_no_worker_says_so(busy_job):
    res = _stacks(busy_job, "--operator", "MapBatches(Nothing) #4")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "no running worker of MapBatches(Nothing) found" in res.stdout
    assert "process titles carry only the name" in res.stdout


def test_without_py_spy_it_says_so_in_one_line(busy_job):
    env = busy_job.env(PATH="/nonexistent")  # raytop runs as sys.executable; no py-spy found
    res = _stacks(busy_job, "--operator", "MapBatches(SlowModel)", env=env)
    assert res.returncode == 2
    assert res.stderr.strip() == "raytop: py-spy is not installed on this node (pip install 'raytop[stacks]')"
