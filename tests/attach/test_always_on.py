"""`raytop probe enable|disable|status` on a real virtual environment: its Ray Data jobs carry
the probe, dormant until a raytop listens, and stop carrying it once disabled."""

from __future__ import annotations

import os
import subprocess
import sys
import venv

import pytest

from raytop.sources.probe_source import ProbeSource

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

JOB = """
import ray
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
print(ray.data.range(2000, override_num_blocks=20).map_batches(lambda b: b).count())
"""


@pytest.fixture(scope="module")
def env_python(tmp_path_factory):
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(root)
    return str(root / "bin" / "python")


def _raytop(*args):
    return subprocess.run([sys.executable, "-m", "raytop", "probe", *args], capture_output=True,
                          text=True, timeout=180)


def _callbacks_in(python: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "RAY_DATA_EXECUTION_CALLBACKS"}
    return subprocess.run([python, "-c", "import os; print(os.environ.get("
                           "'RAY_DATA_EXECUTION_CALLBACKS', ''))"], env=env,
                          capture_output=True, text=True, timeout=60).stdout.strip()


def test_enable_puts_the_dormant_probe_in_every_job_and_disable_takes_it_out(env_python,
                                                                              tmp_path):
    res = _raytop("enable", "--python", env_python)
    assert res.returncode == 0, res.stderr
    try:
        assert "probe: always on" in _raytop("status", "--python", env_python).stdout
        assert _callbacks_in(env_python) == "raytop.probe.RaytopProbe"
        channel = tmp_path / "ch"
        with_listener = ProbeSource(directory=channel)
        try:
            env = {k: v for k, v in os.environ.items() if k != "RAY_DATA_EXECUTION_CALLBACKS"}
            env.update(RAY_ADDRESS="local", RAYTOP_CHANNEL_DIR=str(channel),
                       RAY_DATA_DISABLE_PROGRESS_BARS="1")
            job = subprocess.run([env_python, "-c", JOB], env=env, capture_output=True,
                                 text=True, timeout=240)
            assert job.returncode == 0 and job.stdout.strip().endswith("2000"), job.stderr[-2000:]
            reported = with_listener.read()
        finally:
            with_listener.close()
        assert [d.probe for d in reported.datasets] == ["env"]
        assert reported.datasets[0].state == "FINISHED"
    finally:
        assert _raytop("disable", "--python", env_python).returncode == 0
    assert _callbacks_in(env_python) == ""
    assert "not enabled" in _raytop("status", "--python", env_python).stdout


def test_an_opt_out_and_what_was_there_are_respected(env_python):
    assert _raytop("enable", "--python", env_python).returncode == 0
    try:
        env = dict(os.environ, RAY_DATA_EXECUTION_CALLBACKS="my.Callback")
        keep = subprocess.run([env_python, "-c", "import os; print(os.environ["
                               "'RAY_DATA_EXECUTION_CALLBACKS'])"], env=env,
                              capture_output=True, text=True, timeout=60).stdout.strip()
        assert keep == "my.Callback,raytop.probe.RaytopProbe"
        env = {k: v for k, v in os.environ.items() if k != "RAY_DATA_EXECUTION_CALLBACKS"}
        env["RAYTOP_PROBE"] = "0"
        off = subprocess.run([env_python, "-c", "import os; print(os.environ.get("
                              "'RAY_DATA_EXECUTION_CALLBACKS', ''))"], env=env,
                             capture_output=True, text=True, timeout=60).stdout.strip()
        assert off == ""
    finally:
        _raytop("disable", "--python", env_python)


def test_an_environment_without_raytop_is_refused(tmp_path):
    bare = tmp_path / "bare"
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(bare)
    res = _raytop("enable", "--python", str(bare / "bin" / "python"))
    assert res.returncode == 2
    assert "raytop is not installed in the environment" in res.stderr
    assert not list(bare.rglob("raytop-probe.pth"))
