"""`--fail-on warning|critical` (run, record): a CI gate on the advisor's findings.

A collector sink runs the advisor over the session's snapshots, as the live view does. At the
end, the findings at or above the level fail the gate: they go to stderr, into the recording as
a ``ci_gate`` event (which the report shows), and the command exits with ``EXIT_FINDINGS``
(a failed script's own exit code comes first).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from raytop.model import Event, Snapshot, Suggestion

EXIT_FINDINGS = 3
LEVELS = ("warning", "critical")
_RANK = {"critical": 0, "warning": 1, "info": 2}


class FindingsGate:
    def __init__(self, level: str) -> None:
        from raytop.analysis.advisor import Advisor

        self.level = level
        self._advisor = Advisor()
        self._lock = threading.Lock()

    def snapshot(self, snap: Snapshot) -> None:
        with self._lock:
            self._advisor.update(snap)

    def event(self, ev: Event) -> None:
        pass

    def failing(self) -> tuple[Suggestion, ...]:
        """The findings raised during the session at or above the level, most severe first."""
        with self._lock:
            raised = self._advisor.ever_active()
        return tuple(s for s in raised if _RANK.get(s.severity, 3) <= _RANK[self.level])

    def verdict_event(self) -> Event:
        failing = self.failing()
        findings = [{"rule": s.rule, "severity": s.severity, "operator": s.operator,
                     "dataset_id": s.dataset_id, "title": s.title, "fix": s.fix}
                    for s in failing]
        word = f"failed: {len(failing)} finding(s)" if failing else "passed"
        return Event(t=time.time(), kind="ci_gate",
                     message=f"--fail-on {self.level} {word}",
                     data={"level": self.level, "failed": bool(failing), "findings": findings})


def report_failing(failing: tuple[Suggestion, ...], level: str, out: TextIO = sys.stderr) -> None:
    if not failing:
        print(f"raytop: --fail-on {level}: no finding at {level} or above", file=out)
        return
    print(f"raytop: --fail-on {level}: {len(failing)} finding(s)", file=out)
    for s in failing:
        where = f" · {s.operator}" if s.operator else ""
        print(f"raytop: [{s.severity}] {s.rule}{where}: {s.title}", file=out)
        print(f"raytop:   fix: {s.fix}", file=out)


def gated_exit_code(code: int, gate: FindingsGate | None, failing: list) -> int:
    """The command's exit code: the script's failure first, then the gate's."""
    if code != 0 or gate is None:
        return code
    return EXIT_FINDINGS if failing else 0
