"""A real `ray start --head --block` cluster for attach tests, and its clean removal.

`ray start` records itself in /tmp/ray/ray_current_cluster, which sends every later argument-less
`ray.init()` on the machine to it; the file is removed again when the cluster goes, so the rest
of the suite (which starts its own local clusters) is not redirected to a dead address.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CURRENT_CLUSTER = Path("/tmp/ray/ray_current_cluster")
READY = re.compile(r"Ray runtime started|ray stop")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> list:
    exe = Path(sys.executable).parent / "ray"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from ray.scripts.scripts import main; "
            "sys.argv[0] = 'ray'; main()"]


class RayStartCluster:
    def __init__(self, workdir: Path, *, num_cpus: int = 2, num_gpus: int = 1) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / "ray-start.log"
        self.args = [f"--port={self.port}", f"--num-cpus={num_cpus}", f"--num-gpus={num_gpus}",
                     "--include-dashboard=false", "--disable-usage-stats",
                     f"--object-store-memory={300 * 1024 * 1024}"]
        self.proc: subprocess.Popen | None = None
        self.address: str | None = None

    def start(self, timeout: float = 120.0) -> str:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(_ray_cli() + ["start", "--head", "--block", *self.args],
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if READY.search(text):
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)  # polling the log for the ready line
        else:
            raise RuntimeError("ray start did not come up:\n" + self.log.read_text()[-3000:])
        self.address = CURRENT_CLUSTER.read_text().strip()
        return self.address

    def env(self, **extra) -> dict:
        # An explicit address needs Ray 2.59+'s token mode said out loud ("auto" finds it).
        env = dict(os.environ, RAY_ADDRESS=self.address or "", RAY_AUTH_MODE="token",
                   RAY_DATA_DISABLE_PROGRESS_BARS="1")
        env.pop("RAY_DATA_EXECUTION_CALLBACKS", None)  # jobs start with no preparation
        env.update(extra)
        return env

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:  # a throw-away cluster: no long goodbye (`ray stop` took 30-40 s on 2 cores)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        try:
            if self.address and CURRENT_CLUSTER.read_text().strip() == self.address:
                CURRENT_CLUSTER.unlink()
        except OSError:
            pass
