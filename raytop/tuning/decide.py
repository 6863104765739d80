"""Is a change worth keeping? Pure: rows/s of interleaved trials in, a verdict out.

Trials of the baseline and of the candidate alternate (A B A B …), so slow drift of the machine
falls on both. The gain is the ratio of the medians; its spread, the ratio of the worst candidate
trial to the best baseline trial and of the best to the worst. A change is kept only when even
the worst candidate trial beat the best baseline trial and the median gain is at least
``MIN_GAIN``: a gain inside the run-to-run noise is no gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

MIN_GAIN = 1.05


@dataclass(frozen=True)
class Verdict:
    ratio: float | None  # median candidate / median baseline rows/s
    low: float | None  # worst candidate / best baseline
    high: float | None  # best candidate / worst baseline
    keep: bool
    why: str


def compare(baseline: Sequence[float | None], candidate: Sequence[float | None],
            min_gain: float = MIN_GAIN) -> Verdict:
    base = [r for r in baseline if r]
    cand = [r for r in candidate if r is not None]
    if not base or not cand or len(cand) < len(candidate):
        return Verdict(None, None, None, False,
                       "a trial measured no throughput (it failed or ended before its warm-up)")
    ratio = median(cand) / median(base)
    low, high = min(cand) / max(base), max(cand) / min(base)
    if low > 1.0 and ratio >= min_gain:
        return Verdict(ratio, low, high, True, f"faster in every trial ({_x(low)}..{_x(high)})")
    if ratio < 1.0 and high < 1.0:
        return Verdict(ratio, low, high, False, f"slower in every trial ({_x(low)}..{_x(high)})")
    return Verdict(ratio, low, high, False,
                   f"within the noise ({_x(low)}..{_x(high)}; keeping needs every trial faster "
                   f"and ≥ {_x(min_gain)} on the median)")


BUSY_LOAD_PER_CPU = 2.0  # a 1-min load average above this many per CPU: other work dominates


def busy_note(loads: Sequence[float | None], cpus: int | None) -> str:
    """A warning when the machine was busy with other work during a comparison's trials (their
    mean 1-min load averages): a spike during the candidate's trials reads as a slower change.
    Empty when the loads are unknown or the machine was not that busy."""
    known = [x for x in loads if x is not None]
    if not known or not cpus or max(known) <= BUSY_LOAD_PER_CPU * cpus:
        return ""
    return (f"; the machine was busy (load average {min(known):.0f}..{max(known):.0f} on {cpus} "
            "CPUs during these trials): measure again when it is quieter")


def _x(v: float) -> str:
    return f"×{v:.2f}"
