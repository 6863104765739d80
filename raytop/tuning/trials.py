"""One tuning trial: the script under `raytop run --headless --set …` in a child process,
cut after ``trial_seconds`` if given, judged on its steady-state rows/s (after ``warmup_s``
of running) and GPU utilisation, from its recording."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING

from raytop.model import Snapshot, Suggestion

if TYPE_CHECKING:
    from raytop.recording import RecordingReader

CTRL_C_GRACE_S = 20.0  # for the script to stop on Ctrl-C and raytop to finish its recording
SECOND_SIGNAL_GRACE_S = 30.0  # raytop's second signal: SIGTERM to the script's group, SIGKILL 5 s on


@dataclass(frozen=True)
class TrialResult:
    label: str  # "baseline", or the candidate's settings
    settings: tuple[str, ...]  # every --set in force
    recording: Path
    exit_code: int
    rows_per_s: float | None  # steady state; None when it could not be measured
    gpu_util: float | None  # mean over the judged window, when there are GPUs
    judged_s: float | None  # length of the judged window
    suggestions: tuple[Suggestion, ...] = ()  # the advisor's findings
    near_misses: tuple[Suggestion, ...] = ()  # rules that held in some evaluation (findings.py)
    load_avg: float | None = None  # the machine's mean 1-min load average while it ran
    cut: bool = False  # stopped at --trial-seconds (its exit code is then the Ctrl-C's)

    @property
    def ending(self) -> str:
        """How the trial ended, for tables: ``cut`` or ``exit N``."""
        return "cut" if self.cut else f"exit {self.exit_code}"


# (seconds since the trial started, what gives its rows/s so far or None): called about once a
# second; reading the rate decodes the recording's new snapshots, so it is asked only if wanted
ProgressFn = Callable[[float, Callable[[], float | None]], None]


def _main_rows(snap: Snapshot) -> tuple[str, int] | None:
    known = [(d.dataset_id, d.rows_out) for d in snap.datasets if d.rows_out is not None]
    return max(known, key=lambda x: x[1]) if known else None


def steady_rate(snaps: Sequence[Snapshot], warmup_s: float) -> tuple[float | None, float | None,
                                                                      float | None]:
    """(rows/s, mean GPU util, seconds judged) of the dataset that moved most rows, from the
    first sample ``warmup_s`` after it started running to its last running sample."""
    running = [s for s in snaps if any(d.state == "RUNNING" for d in s.datasets)]
    if len(running) < 2:
        return None, None, None
    start_t = running[0].t + warmup_s
    window = [s for s in running if s.t >= start_t] or running
    if len(window) < 2:
        window = running
    first, last = _main_rows(window[0]), _main_rows(window[-1])
    if first is None or last is None or last[0] != first[0] or window[-1].t <= window[0].t:
        return None, None, None
    rate = (last[1] - first[1]) / (window[-1].t - window[0].t)
    utils = [g.util_percent for s in window for n in s.nodes for g in n.gpus
             if g.util_percent is not None]
    return rate, (mean(utils) if utils else None), window[-1].t - window[0].t


class _Watch:
    """Rows/s so far of a trial, read from its recording while ``raytop run`` writes it."""

    def __init__(self, path: Path, warmup_s: float) -> None:
        self.path, self.warmup_s = path, warmup_s
        self.reader: RecordingReader | None = None
        self.snaps: list[Snapshot] = []  # read so far: each tick decodes only the new ones

    def rate(self) -> float | None:
        from raytop.recording import RecordingError, RecordingReader

        try:
            if self.reader is None:
                if not self.path.exists():
                    return None
                self.reader = RecordingReader(self.path)
            else:
                self.reader.refresh()
            after = self.snaps[-1].t + 1e-6 if self.snaps else None
            self.snaps += self.reader.iter_snapshots(start=after)
        except (RecordingError, OSError):
            return None  # not written far enough yet: no figure, not a zero
        return steady_rate(self.snaps, self.warmup_s)[0]

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()


def run_trial(script: Path, args: Sequence[str], settings: Sequence[str], label: str,
              recording: Path, *, trial_seconds: float | None, warmup_s: float,
              interval: float = 0.5, on_progress: ProgressFn | None = None) -> TrialResult:
    from raytop.analysis.advisor import advise
    from raytop.recording import RecordingReader
    from raytop.tuning.findings import near_misses

    cmd = [sys.executable, "-m", "raytop", "run", "--headless", "--interval", str(interval),
           "--record", str(recording), "--force"]
    for s in settings:
        cmd += ["--set", s]
    cmd += [str(script), *args]
    recording.unlink(missing_ok=True)  # the watch must not read a previous run's figures
    watch = _Watch(recording, warmup_s)
    log = open(recording.with_suffix(".log"), "wb")
    with log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        started = time.monotonic()
        loads: list[float] = []

        def tick() -> None:
            if hasattr(os, "getloadavg"):
                loads.append(os.getloadavg()[0])
            if on_progress is not None:
                on_progress(time.monotonic() - started, watch.rate)
        try:
            code, cut = _wait(proc, trial_seconds, tick)
        except BaseException:  # the tune was stopped (its view closed, Ctrl-C): so is the trial
            _stop(proc)
            raise
        finally:
            watch.close()
    with RecordingReader(recording) as reader:
        snaps = tuple(reader.iter_snapshots())
    rate, gpu, judged = steady_rate(snaps, warmup_s)
    return TrialResult(label, tuple(settings), recording, code, rate, gpu, judged,
                       tuple(advise(snaps)), near_misses(snaps), mean(loads) if loads else None,
                       cut)


def _wait(proc: subprocess.Popen, trial_seconds: float | None, tick: Callable[[], None]
          ) -> tuple[int, bool]:
    """(the trial's exit code, whether it was cut), ``tick`` about once a second meanwhile; a
    trial cut at ``trial_seconds`` gets Ctrl-C, as a user would."""
    deadline = None if trial_seconds is None else time.monotonic() + trial_seconds
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        try:
            return proc.wait(1.0 if left is None else min(1.0, left)), False
        except subprocess.TimeoutExpired:
            tick()
    return _stop(proc), True


def _stop(proc: subprocess.Popen) -> int:
    """Ctrl-C to the trial (raytop forwards it to the script and finishes its recording); a
    script that does not end on it gets raytop's second signal, which ends the script's whole
    process group. Only a raytop that hangs itself is killed (its script may then be left)."""
    for sig, grace in ((signal.SIGINT, CTRL_C_GRACE_S), (signal.SIGTERM, SECOND_SIGNAL_GRACE_S)):
        if proc.poll() is not None:
            return proc.returncode
        os.killpg(proc.pid, sig)
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def trial_table(trials: list[TrialResult]) -> list[tuple[str, str, str, str, str]]:
    """(label, rows/s, GPU util, machine load, exit) per trial, for the terminal and docs."""
    rows = []
    for t in trials:
        rate = "n/a" if t.rows_per_s is None else f"{t.rows_per_s:,.0f}"
        gpu = "" if t.gpu_util is None else f"{t.gpu_util:.0f} %"
        load = "n/a" if t.load_avg is None else f"{t.load_avg:.1f}"
        rows.append((t.label, rate, gpu, load, t.ending))
    return rows
