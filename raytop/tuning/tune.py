"""`raytop tune`: try the advisor's fixes one at a time, measure each against the current
configuration in interleaved trials, keep it only when it helps beyond the noise, and confirm the
end result against the original in fresh interleaved trials.

Round: the most important finding of the current configuration's last trial whose fix is an
override (``candidates.py``), or else the next ``--try`` setting; ``repeats`` trials of each,
alternating baseline / candidate; ``decide.compare`` says keep or drop. A kept change becomes part
of the baseline for the next round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from raytop.model import Suggestion
from raytop.tuning.candidates import next_candidate
from raytop.tuning.decide import Verdict, compare
from raytop.tuning.overrides import Override, parse_settings
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
        return tuple(s for r in self.kept for s in r.candidate)


class Tuner:
    def __init__(self, opts: TuneOptions, on_trial: Callable[[TrialResult, str], None]) -> None:
        self.opts = opts
        self.on_trial = on_trial
        self.result = TuneResult()
        self._n = 0

    def trial(self, settings: Sequence[str], label: str) -> TrialResult:
        self._n += 1
        rec = self.opts.workdir / f"trial-{self._n:02d}.raytop"
        t = run_trial(self.opts.script, self.opts.args, settings, label, rec,
                      trial_seconds=self.opts.trial_seconds, warmup_s=self.opts.warmup_s)
        self.result.trials.append(t)
        self.on_trial(t, f"trial {self._n}")
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
        kept: list[str] = []
        tried: list[str] = []
        findings = self.trial(kept, "baseline").suggestions
        tries = [parse_settings([t])[0] for t in self.opts.tries]
        for _ in range(self.opts.rounds):
            picked = _pick(findings, tried, tries)
            if picked is None:
                break
            finding, overrides = picked
            settings = tuple(o.text for o in overrides)
            tried += settings
            a, b = self.interleaved(kept, [*kept, *settings], "+" + "; ".join(settings))
            verdict = compare([t.rows_per_s for t in a], [t.rows_per_s for t in b])
            rnd = Round(settings, finding, tuple(a), tuple(b), verdict)
            self.result.rounds.append(rnd)
            if verdict.keep:
                kept += settings
                self.result.kept.append(rnd)
                findings = b[-1].suggestions
        if kept:
            a, b = self.interleaved([], kept, "tuned: " + "; ".join(kept), "original")
            verdict = compare([t.rows_per_s for t in a], [t.rows_per_s for t in b])
            self.result.final = Round(tuple(kept), None, tuple(a), tuple(b), verdict)
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
