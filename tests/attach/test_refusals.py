"""Where raytop cannot or must not load its probe: one line, never a traceback, and the session
carries on probe-free (or, for input that is simply wrong, exit code 2)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from raytop.attach.inject import InjectError, choose_method
from raytop.attach.levels import INJECTABLE, PROBE_FREE, classify, trace_refusal
from tests.attach.helpers import JOBS, wait_until

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def idle_driver(ray_start, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("idle")
    ready = tmp / "ready"
    proc = subprocess.Popen([sys.executable, str(JOBS / "idle_driver.py"), str(ready)],
                            env=ray_start.env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_until(ready.exists, 120, "the idle driver to connect", poll_s=0.2)
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(30)


def _record(cluster, tmp_path, *args, env=None):
    cmd = [sys.executable, "-m", "raytop", "record", "--address", cluster.address,
           "--interval", "0.5", "-o", str(tmp_path / "r.raytop"), *args]
    return subprocess.run(cmd, env=env or cluster.env(RAYTOP_CHANNEL_DIR=str(tmp_path / "ch")),
                          capture_output=True, text=True, timeout=120)


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_dead_pid_is_bad_input(ray_start, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    res = _record(ray_start, tmp_path, "--pid", str(dead.pid), "--duration", "5")
    assert res.returncode == 2
    assert _one_line(res.stderr) == f"raytop: no process {dead.pid}"


def test_a_process_that_is_not_a_ray_driver_is_bad_input(ray_start, tmp_path, idle_driver):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        res = _record(ray_start, tmp_path, "--pid", str(sleeper.pid), "--duration", "5")
    finally:
        sleeper.kill()
    assert res.returncode == 2
    line = _one_line(res.stderr)
    assert f"pid {sleeper.pid} is not a Ray driver of the cluster" in line
    assert str(idle_driver) in line  # it names the drivers there are


def test_without_gdb_it_says_so_and_records_probe_free(ray_start, tmp_path, idle_driver):
    env = ray_start.env(RAYTOP_CHANNEL_DIR=str(tmp_path / "ch"), PATH="/nonexistent")
    res = _record(ray_start, tmp_path, "--pid", str(idle_driver), "--duration", "8", env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert (f"cannot load the probe into pid {idle_driver}: no gdb on this machine"
            in res.stderr), res.stderr[-2000:]
    assert (tmp_path / "r.raytop").exists()


def test_a_process_that_is_not_python_is_refused():
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        with pytest.raises(InjectError, match="is not a Python process"):
            choose_method(sleeper.pid)
    finally:
        sleeper.kill()


def test_a_driver_on_another_node_is_probe_free():
    level, why = classify(os.getpid(), "10.9.8.7", ("127.0.0.1", "192.0.2.2"))
    assert level == PROBE_FREE and "runs on 10.9.8.7" in why
    assert classify(os.getpid(), "127.0.0.1", ("127.0.0.1",))[0] == INJECTABLE


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_another_users_process_is_refused():
    """As an unprivileged user, raytop may not trace root's processes: it says whose it is."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child drops to nobody and asks about its parent (a root process)
        os.close(read)
        try:
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            os.write(write, (trace_refusal(os.getppid()) or "").encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        refusal = fh.read()
    os.waitpid(child, 0)
    assert refusal.startswith(f"pid {os.getpid()} belongs to root"), refusal
