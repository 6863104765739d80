"""`raytop tune`: try the advisor's fixes one at a time, measure each against the current
configuration in interleaved trials, keep it only when it helps beyond the noise, and confirm the
end result against the original in fresh interleaved trials.

Round: the most important finding of the current configuration's last trial whose fix is an
override (``candidates.py``), or else the next ``--try`` setting; ``repeats`` trials of each,
alternating baseline / candidate; ``decide.compare`` says keep or drop. A kept change becomes part
of the baseline for the next round.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from raytop.model import Suggestion
from raytop.tuning.candidates import next_candidate
from raytop.tuning.decide import Verdict, busy_note, compare
from raytop.tuning.findings import merge
from raytop.tuning.overrides import Override, parse_settings
from raytop.tuning.progress import TuneProgress
from raytop.tuning.trials import TrialResult, run_trial


@dataclass
class TuneOptions:
    script: Path
    args: Sequence[str]
    workdir: Path
    rounds: int = 3
    repeats: int = 2
    trial_seconds: float | None = None
    warmup_s: float = 10.0
    tries: Sequence[str] = ()  # --try settings, tried after the advisor's fixes


@dataclass(frozen=True)
class Round:
    candidate: tuple[str, ...]  # the settings tried
    finding: Suggestion | None  # the advisor's finding it came from (None: --try)
    baseline: tuple[TrialResult, ...]
    trials: tuple[TrialResult, ...]
    verdict: Verdict


@dataclass
class TuneResult:
    rounds: list[Round] = field(default_factory=list)
    kept: list[Round] = field(default_factory=list)
    final: Round | None = None  # the original vs everything kept, fresh trials
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def settings(self) -> tuple[str, ...]:
        out: tuple[str, ...] = ()
        for r in self.kept:
            out = combine(out, r.candidate)
        return out


def combine(current: Sequence[str], change: Sequence[str]) -> tuple[str, ...]:
    """``current`` with ``change`` applied: a setting of the same operator and key is replaced
    (``concurrency=4`` kept, then ``concurrency=8`` tried), not given twice."""
    changed = {(o.operator, o.key) for o in parse_settings(change)}
    kept = [o.text for o in parse_settings(current) if (o.operator, o.key) not in changed]
    return (*kept, *change)


def judge(base: Sequence[TrialResult], cand: Sequence[TrialResult]) -> Verdict:
    """``compare`` of the two sides' rows/s, said to be doubtful when the machine was busy."""
    verdict = compare([t.rows_per_s for t in base], [t.rows_per_s for t in cand])
    note = busy_note([t.load_avg for t in (*base, *cand)], os.cpu_count())
    return replace(verdict, why=verdict.why + note) if note else verdict


def findings_of(trials: Sequence[TrialResult]) -> tuple[Suggestion, ...]:
    """What the trials of one configuration say to try: every trial's advisor findings, then
    every trial's near misses (a borderline problem shows in some trials and not others)."""
    return merge([*(t.suggestions for t in trials), *(t.near_misses for t in trials)])


class TuneStopped(Exception):
    """The tune was asked to stop (its live view closed)."""


class Tuner:
    def __init__(self, opts: TuneOptions, progress: TuneProgress,
                 stop: threading.Event | None = None) -> None:
        self.opts = opts
        self.progress = progress
        self.stop = stop or threading.Event()
        self.result = TuneResult()
        self._n = 0

    def trial(self, settings: Sequence[str], label: str) -> TrialResult:
        self._n += 1
        n = self._n
        rec = self.opts.workdir / f"trial-{n:02d}.raytop"

        def on_progress(elapsed: float, rate: Callable[[], float | None]) -> None:
            if self.stop.is_set():
                raise TuneStopped()  # run_trial stops the trial's script
            if self.progress.live:
                self.progress.trial_progress(n, elapsed, rate())
        if self.stop.is_set():
            raise TuneStopped()
        self.progress.trial_started(n, label, settings)
        t = run_trial(self.opts.script, self.opts.args, settings, label, rec,
                      trial_seconds=self.opts.trial_seconds, warmup_s=self.opts.warmup_s,
                      on_progress=on_progress)
        self.result.trials.append(t)
        self.progress.trial_done(n, t)
        return t

    def interleaved(self, base: Sequence[str], cand: Sequence[str], cand_label: str,
                    base_label: str = "baseline") -> tuple[list[TrialResult], list[TrialResult]]:
        a: list[TrialResult] = []
        b: list[TrialResult] = []
        for i in range(self.opts.repeats):
            order = [(base, base_label, a), (cand, cand_label, b)]
            for settings, label, into in (order if i % 2 == 0 else order[::-1]):
                into.append(self.trial(settings, label))
        return a, b

    def run(self) -> TuneResult:
        kept: tuple[str, ...] = ()
        tried: list[str] = []
        findings = findings_of([self.trial(kept, "baseline")])
        tries = [parse_settings([t])[0] for t in self.opts.tries]
        for _ in range(self.opts.rounds):
            picked = _pick(findings, tried, tries)
            if picked is None:
                break
            finding, overrides = picked
            settings = tuple(o.text for o in overrides)
            tried += settings
            self.progress.round_started(settings, finding)
            a, b = self.interleaved(kept, combine(kept, settings), "+" + "; ".join(settings))
            verdict = judge(a, b)
            rnd = Round(settings, finding, tuple(a), tuple(b), verdict)
            self.result.rounds.append(rnd)
            self.progress.round_decided(rnd.candidate, verdict)
            if verdict.keep:
                kept = combine(kept, settings)
                self.result.kept.append(rnd)
                findings = findings_of(b)
            else:  # the current configuration's own trials of this round say more
                findings = merge([findings, findings_of(a)])
        if kept:
            self.progress.round_started(kept, None, final=True)
            a, b = self.interleaved([], kept, "tuned: " + "; ".join(kept), "original")
            verdict = judge(a, b)
            self.result.final = Round(kept, None, tuple(a), tuple(b), verdict)
            self.progress.round_decided(kept, verdict, final=True)
        self.progress.finished()
        return self.result


def _pick(findings: Sequence[Suggestion], tried: list[str], tries: list[Override]
          ) -> tuple[Suggestion | None, list[Override]] | None:
    from_advisor = next_candidate(findings, tried)
    if from_advisor is not None:
        return from_advisor
    for o in tries:
        if o.text not in tried:
            return None, [o]
    return None
