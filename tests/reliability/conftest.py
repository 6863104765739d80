"""Fixtures of the fault suite (helpers live in helpers.py)."""

from __future__ import annotations

import pytest

from tests.reliability.helpers import ClusterHolder


@pytest.fixture(scope="package")
def holder():
    h = ClusterHolder()
    h.start()
    yield h
    h.close()


SECRET_ARG = "hunter2-arg-secret"
SECRET_ENV = "hunter2-env-secret"


@pytest.fixture(scope="package")
def failing_run(tmp_path_factory):
    """One `raytop run --headless` of a job whose UDF fails, with the real Ray token planted in
    its argv, its environment and its error; raytop's processes are sampled while it runs."""
    import threading

    from tests.reliability.helpers import SCRIPTS, clean_env, ensure_token, sample_raytop, start_raytop

    token = ensure_token()
    tmp = tmp_path_factory.mktemp("failing")
    chan = tmp / "chan"
    rec, report = tmp / "fail.raytop", tmp / "fail-report.json"
    env = clean_env(RAYTOP_CHANNEL_DIR=str(chan), RAY_AUTH_TOKEN=token, DB_PASSWORD=SECRET_ENV)
    proc = start_raytop(["run", "--headless", "--interval", "0.3", "--record", str(rec),
                         "--report", str(report), str(SCRIPTS / "failing_job.py"),
                         "--api-token", token, "--password", SECRET_ARG], cwd=tmp, env=env)
    samples: list = []
    done = threading.Event()
    sampler = threading.Thread(target=sample_raytop, args=(proc.pid, chan, samples, done), daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        done.set()
        sampler.join(10)
        if proc.poll() is None:
            proc.kill()
    return {"proc": proc, "out": out, "err": err, "rec": rec, "report": report, "tmp": tmp,
            "token": token, "samples": samples, "chan": chan}


@pytest.fixture(scope="package")
def attached_kill(holder, tmp_path_factory):
    """The same job on the package cluster twice: alone, then with `raytop record` attached, which
    is SIGKILLed halfway. Samples raytop's listening sockets and the GCS's driver ports meanwhile."""
    import signal
    import subprocess
    import sys
    import time

    from tests.reliability.helpers import (
        SCRIPTS,
        bridge_children,
        clean_env,
        listening_inet,
        read_line_with,
        snapshots_now,
        start_raytop,
        wait_until,
    )

    if not holder.up:
        holder.start()
    tmp = tmp_path_factory.mktemp("attach")
    job = [sys.executable, str(SCRIPTS / "attach_job.py"), holder.address]
    alone = subprocess.run(job, capture_output=True, text=True, timeout=300,
                           env=clean_env(RAY_AUTH_MODE="token"))
    assert alone.returncode == 0, alone.stderr[-2000:]

    rec = tmp / "attach.raytop"
    # The driver path (every source through the bridge, a Ray driver): what dies with raytop and
    # what it listens on. The in-process path starts no bridge (test_cluster_loss checks it).
    raytop = start_raytop(["record", "--address", holder.address, "--interval", "0.5", "-o", str(rec)],
                          cwd=tmp, env=clean_env(RAYTOP_THROUGH_DRIVER="1"))
    wait_until(lambda: snapshots_now(rec) or raytop.poll() is not None, 120, what="first snapshot")
    assert raytop.poll() is None, raytop.stderr.read()[-2000:]
    bridge = bridge_children(raytop.pid)
    listen = {"raytop": listening_inet(__import__("psutil").Process(raytop.pid)),
              "bridge": {b.pid: listening_inet(b) for b in bridge}}
    drivers = holder.driver_ports()
    proc = subprocess.Popen(job, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env(RAY_AUTH_MODE="token"))
    read_line_with(proc, "ready")
    before = len(wait_until(lambda: len(snapshots_now(rec)) >= 6 and snapshots_now(rec), 120,
                            what="snapshots while the job runs"))
    raytop.send_signal(signal.SIGKILL)
    killed_at = time.time()
    raytop.wait(30)
    out, err = proc.communicate(timeout=300)
    yield {"alone": alone, "with": (proc.returncode, out, err), "rec": rec, "before": before,
           "killed_at": killed_at, "bridge": bridge, "listen": listen, "drivers": drivers}
