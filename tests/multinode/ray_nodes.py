"""A real three-raylet Ray cluster on this one machine, started and stopped by the tests.

Every node runs ``ray start --block`` in its own process session with its own ``--temp-dir`` and
ports, so it never writes /tmp/ray/ray_current_cluster (other engineers' ``ray.init()`` would join
it) and stopping it kills exactly these processes: SIGTERM to the ``--block`` process (Ray tears
down its node), then SIGKILL to its process group for anything left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports(worker_base: int) -> list[str]:
    return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--metrics-export-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()),
            "--min-worker-port", str(worker_base), "--max-worker-port", str(worker_base + 199)]


@dataclass
class RayNodes:
    """Head + workers; ``address`` is the head's GCS HOST:PORT."""

    root: Path
    address: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("RAY_ADDRESS", None)
        env["RAY_DATA_DISABLE_PROGRESS_BARS"] = "1"
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # Same auth mode as raytop's bridge picks when ~/.ray/auth_token exists.
        if (Path.home() / ".ray" / "auth_token").is_file() and "RAY_AUTH_MODE" not in env:
            env["RAY_AUTH_MODE"] = "token"
        return env

    def _start(self, name: str, args: list[str]) -> None:
        temp = self.root / name
        temp.mkdir(parents=True, exist_ok=True)
        log = open(self.root / f"{name}.log", "wb")
        cmd = [RAY, "start", "--block", "--temp-dir", str(temp), "--disable-usage-stats"] + args
        self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                           env=self.env(), start_new_session=True))

    def start(self, workers: list[dict[str, float]], *, store_mb: int = 100) -> RayNodes:
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        store = str(store_mb * 1024 * 1024)
        self._start("head", ["--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                             "--num-cpus", "1", "--num-gpus", "0", "--object-store-memory", store,
                             "--include-dashboard", "false",
                             "--ray-client-server-port", str(free_port())]
                    + _node_ports(30000))
        self._wait_nodes(1)
        for i, resources in enumerate(workers):
            self._start(f"w{i + 1}", ["--address", self.address, "--node-ip-address", "127.0.0.1",
                                      "--num-cpus", "1", "--num-gpus", "0",
                                      "--object-store-memory", store,
                                      "--resources", json.dumps(resources)]
                        + _node_ports(30200 + 200 * i))
        self._wait_nodes(1 + len(workers))
        return self

    def _wait_nodes(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"ray start exited with {p.returncode}: {self.logs()}")
            r = self.python(f"import ray; ray.init(address='{self.address}', "
                            "logging_level='ERROR', log_to_driver=False); "
                            "print(sum(1 for n in ray.nodes() if n['Alive']))", timeout=60)
            last = r.stdout.strip().splitlines()[-1:] or [r.stderr[-300:]]
            if r.returncode == 0 and last[0] == str(n):
                return
            time.sleep(1.0)
        raise RuntimeError(f"cluster did not reach {n} nodes: {last} {self.logs()}")

    def python(self, code: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run ``code`` in a fresh Python connected to nothing until it calls ray.init itself."""
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=self.env(), timeout=timeout)

    def logs(self) -> str:
        out = []
        for f in sorted(self.root.glob("*.log")):
            out.append(f"{f.name}: {f.read_text(errors='replace')[-800:]}")
        return "\n".join(out)

    def stop(self) -> None:
        for p in reversed(self.procs):  # workers first, the head last
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:  # throw-away nodes: no long goodbye (30 s of the suite's time on 2 cores)
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the node's own session: raylet, workers, agents
            except ProcessLookupError:
                pass
            p.wait(timeout=10)
        self.procs.clear()


def make_root() -> Path:
    # Short: Ray's unix socket paths under the temp dir must stay under ~107 bytes.
    return Path(tempfile.mkdtemp(prefix="rtmn-", dir="/tmp"))


def remove_root(root: Path | None) -> None:
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)
