"""Helpers of the fault suite: raytop as a real subprocess, a killable local Ray cluster on a
fixed port, and the real Ray auth token (planted in a job's argv to prove it never leaks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from raytop.recording import RecordingError, RecordingReader

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
ROOT = HERE.parent.parent
RAYTOP = [sys.executable, "-m", "raytop"]
TOKEN_FILE = Path.home() / ".ray" / "auth_token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env["RAY_DATA_DISABLE_PROGRESS_BARS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(extra)
    return env


def start_raytop(args: list[str], *, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(RAYTOP + args, cwd=cwd, env=env or clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def read_line_with(proc: subprocess.Popen, prefix: str, timeout: float = 120) -> str:
    """The first stdout line of ``proc`` that starts with ``prefix`` (the script's readiness)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"stdout closed before {prefix!r}; stderr: {proc.stderr.read()[-2000:]}")
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no {prefix!r} line in time")


def wait_until(condition, timeout: float = 120, every: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} not met within {timeout:.0f}s")


def snapshots_now(path: Path):
    """Every snapshot committed to a recording that may still be being written ([] if unreadable yet)."""
    try:
        reader = RecordingReader(path)
    except RecordingError:
        return []
    try:
        return list(reader.iter_snapshots())
    finally:
        reader.close()


def bridge_children(pid: int) -> list[psutil.Process]:
    """raytop's Ray bridge: a multiprocessing child of the raytop process."""
    try:
        kids = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            if "multiprocessing" in " ".join(k.cmdline()) and "resource_tracker" not in " ".join(k.cmdline()):
                out.append(k)
        except psutil.Error:
            pass
    return out


def real_token() -> str | None:
    try:
        token = TOKEN_FILE.read_text().strip()
    except OSError:
        return None
    return token or None


class ClusterHolder:
    """A local Ray cluster on a fixed GCS port (``cluster_holder.py``) that tests kill and
    restart. ``kill`` is abrupt (SIGKILL); leftovers found by the private temp dir are killed."""

    def __init__(self) -> None:
        self.port = free_port()
        self.temp_dir = tempfile.mkdtemp(prefix="rtrel-")
        self.proc: subprocess.Popen | None = None
        self.address: str | None = None

    def start(self) -> str:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "cluster_holder.py"), str(self.port),
                                      self.temp_dir], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, start_new_session=True,
                                     env=clean_env())
        line = read_line_with(self.proc, "ready ", timeout=180)
        self.address = line.split()[1]
        return self.address

    @property
    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._kill_leftovers()

    def close(self) -> None:
        import shutil

        self.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if self.temp_dir in " ".join(p.info["cmdline"] or []):
                    p.kill()
            except psutil.Error:
                pass

    def driver_ports(self) -> dict:
        """{driver pid: the core-worker port it registered with the GCS} for live jobs."""
        code = ("import ray\nfrom ray.core.generated import gcs_pb2\n"
                f"ray.init(address={self.address!r}, log_to_driver=False)\n"
                "acc = ray._private.state.state._connect_and_get_accessor()\n"
                "for raw in acc.get_job_table(skip_submission_job_info_field=True, "
                "skip_is_running_tasks_field=True):\n"
                "    e = gcs_pb2.JobTableData.FromString(raw)\n"
                "    if not e.is_dead: print('job', e.driver_pid, e.driver_address.port)\n")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env=clean_env(RAY_AUTH_MODE="token"))
        return {int(p): int(port) for _, p, port in
                (ln.split() for ln in res.stdout.splitlines() if ln.startswith("job "))}


def stop(proc: subprocess.Popen, sig=signal.SIGINT, timeout: float = 60):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


def ensure_token() -> str:
    """The real token of local clusters here (a first local ``ray.init`` creates it)."""
    if real_token() is None:
        subprocess.run([sys.executable, "-c", "import ray; ray.init(num_cpus=1, include_dashboard=False); "
                        "ray.shutdown()"], env=clean_env(), capture_output=True, timeout=180)
    token = real_token()
    assert token, f"no Ray auth token in {TOKEN_FILE}"
    return token


def listening_inet(proc: psutil.Process) -> list[tuple]:
    try:
        return [tuple(c.laddr) for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    except psutil.Error:
        return []


def sample_raytop(pid: int, chan: Path, samples: list, done) -> None:
    """Every 0.2 s while raytop runs: the channel's modes and the listening sockets of raytop's
    own processes (raytop and its bridge child, not the user's script)."""
    import stat as stat_mod

    try:
        me = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not done.is_set():
        sample = {"raytop_listen": listening_inet(me), "bridges": {}, "dir_mode": None, "sockets": {}}
        for b in bridge_children(pid):
            sample["bridges"][b.pid] = listening_inet(b)
        try:
            sample["dir_mode"] = stat_mod.S_IMODE(os.stat(chan).st_mode)
            for name in os.listdir(chan):
                if name.startswith(f"listen-{pid}-"):
                    st = os.stat(chan / name)
                    sample["sockets"][name] = (stat_mod.S_ISSOCK(st.st_mode), stat_mod.S_IMODE(st.st_mode))
        except OSError:
            pass
        samples.append(sample)
        done.wait(0.2)
