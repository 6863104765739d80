"""Running raytop recorders and plain jobs against the `ray start` cluster, and reading back."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from raytop.model import Event, Snapshot
from raytop.recording import RecordingError, RecordingReader

ROOT = Path(__file__).resolve().parents[2]
JOBS = Path(__file__).resolve().parent / "jobs"


def start_recorder(cluster, out: Path, channel_dir: Path, *extra: str,
                   interval: float = 0.5) -> subprocess.Popen:
    """`raytop record` of the cluster into ``out``, listening on its own probe channel."""
    cmd = [sys.executable, "-m", "raytop", "record", "--address", cluster.address,
           "--interval", str(interval), "-o", str(out), *extra]
    err = open(out.with_suffix(".err"), "wb")
    return subprocess.Popen(cmd, env=cluster.env(RAYTOP_CHANNEL_DIR=str(channel_dir)),
                            stdout=subprocess.DEVNULL, stderr=err, cwd=out.parent)


def stop_recorder(proc: subprocess.Popen, timeout: float = 60) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout)


def read_back(path: Path) -> tuple:
    """(snapshots, events) of a recording, possibly still being written."""
    with RecordingReader(path) as reader:
        return tuple(reader.iter_snapshots()), tuple(reader.events())


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               poll_s: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll_s)  # polling a file another process writes
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def finished_with_rows(path: Path, rows: int) -> Callable[[], bool]:
    """A recording's newest snapshot shows a finished dataset with ``rows`` rows."""
    def check() -> bool:
        if not path.exists():
            return False
        try:
            snaps, _ = read_back(path)
        except RecordingError:
            return False
        return bool(snaps) and any(d.state == "FINISHED" and d.rows_out == rows
                                   for d in snaps[-1].datasets)
    return check


def dataset_samples(snaps: Sequence[Snapshot], state: str | None = None) -> list:
    out = []
    for s in snaps:
        for d in s.datasets:
            if state is None or d.state == state:
                out.append((s, d))
    return out


def events_of(events: Sequence[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]
