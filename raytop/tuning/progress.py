"""Where a `raytop tune` run stands, for its live view and its stderr lines.

The tuner (in its own thread) tells ``TuneProgress`` what happens; after every change it hands
``on_change`` a frozen ``TuneView`` (safe to pass to the UI thread as it is) and a line saying
what happened (empty for a progress tick of the running trial)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from raytop.model import Suggestion
from raytop.tuning.decide import Verdict
from raytop.tuning.trials import TrialResult


@dataclass(frozen=True)
class TrialRow:
    n: int
    label: str  # "baseline", "original", or the settings it adds
    running: bool
    elapsed_s: float | None  # while running
    rows_per_s: float | None  # so far while running; steady state once done
    gpu_util: float | None
    ending: str | None  # "cut" or "exit N"; None while running


@dataclass(frozen=True)
class TuneView:
    script: str
    step: str = "baseline trial"  # what is being measured now
    changed: str = "nothing (the script as it is)"  # the change under test, with its finding
    trials: tuple[TrialRow, ...] = ()
    verdicts: tuple[str, ...] = ()  # one line per decided round
    done: bool = False

    @property
    def current(self) -> TrialRow | None:
        return next((t for t in reversed(self.trials) if t.running), None)


def rate_text(rows_per_s: float | None) -> str:
    return "n/a" if rows_per_s is None else f"{rows_per_s:,.0f} rows/s"


def verdict_line(settings: Sequence[str], verdict: Verdict, final: bool = False) -> str:
    gain = "n/a" if verdict.ratio is None else (
        f"×{verdict.ratio:.2f} rows/s (×{verdict.low:.2f}..×{verdict.high:.2f})")
    if final:
        return f"original -> tuned ({'; '.join(settings)}): {gain}: {verdict.why}"
    word = "kept" if verdict.keep else "dropped"
    return f"{word}: {'; '.join(settings)}: {gain}: {verdict.why}"


class TuneProgress:
    def __init__(self, script: str, on_change: Callable[[TuneView, str], None],
                 live: bool = True) -> None:
        self.view = TuneView(script=script)
        self.on_change = on_change
        self.live = live  # wants the running trial's rows/s so far (read from its recording)

    def _set(self, line: str, **changes) -> None:
        self.view = replace(self.view, **changes)
        self.on_change(self.view, line)

    def _row(self, n: int, **changes) -> tuple[TrialRow, ...]:
        return tuple(replace(t, **changes) if t.n == n else t for t in self.view.trials)

    def trial_started(self, n: int, label: str, settings: Sequence[str]) -> None:
        row = TrialRow(n, label, True, 0.0, None, None, None)
        self._set(f"trial {n}: {label}: started", trials=(*self.view.trials, row))

    def trial_progress(self, n: int, elapsed_s: float, rows_per_s: float | None) -> None:
        self._set("", trials=self._row(n, elapsed_s=elapsed_s, rows_per_s=rows_per_s))

    def trial_done(self, n: int, t: TrialResult) -> None:
        gpu = "" if t.gpu_util is None else f", GPU {t.gpu_util:.0f} %"
        self._set(f"trial {n}: {t.label}: {rate_text(t.rows_per_s)}{gpu} ({t.ending})",
                  trials=self._row(n, running=False, rows_per_s=t.rows_per_s,
                                   gpu_util=t.gpu_util, ending=t.ending))

    def round_started(self, settings: Sequence[str], finding: Suggestion | None,
                      final: bool = False) -> None:
        what = "; ".join(settings)
        if final:
            step, changed = "confirming: original vs tuned, fresh trials", what
        else:
            step = f"round {sum(1 for v in self.view.verdicts if not v.startswith('original')) + 1}"
            changed = what + (f"  (from {finding.rule} on {finding.operator})"
                              if finding is not None and finding.operator else
                              f"  (from {finding.rule})" if finding is not None else "  (--try)")
        self._set(f"{step}: trying {changed}", step=step, changed=changed)

    def round_decided(self, settings: Sequence[str], verdict: Verdict,
                      final: bool = False) -> None:
        line = verdict_line(settings, verdict, final)
        self._set(line, verdicts=(*self.view.verdicts, line))

    def finished(self) -> None:
        self._set("done", step="done", done=True)
