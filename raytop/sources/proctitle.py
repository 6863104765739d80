"""Ray process titles -> what the process is doing, and for which Ray Data operator.

Ray sets a worker's title (and so its cmdline, space-padded) to ``ray::<name>`` (Ray 2.60):

- actor pool workers: ``ray::MapWorker(<operator>)``, plus ``.<method>`` while a method runs
  (``.submit`` for a batch, ``.__init__`` while the UDF is constructed);
- task workers: ``ray::<operator>`` while running a Ray Data task (the task is named after the
  physical operator), ``ray::IDLE`` between tasks;
- Ray's own actors (``ray::_StatsActor``, ``ray::DashboardAgent``, ...) and raytop's own sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from raytop.model import clean_text

# Kinds of Ray processes.
ACTOR = "actor"  # a Ray Data actor-pool worker of ``operator``
TASK = "task"  # a worker running a task named ``operator``
IDLE = "idle"  # a pooled worker between tasks
HELPER = "helper"  # Ray's or Ray Data's own processes, raytop's sampler: never an operator
OTHER_ACTOR = "other_actor"  # some other actor (``ray::Class.method``): not a Ray Data operator

_MAP_WORKER = "MapWorker("
# Agents that raylet starts; they are not workers running user code.
AGENTS = frozenset({"DashboardAgent", "RuntimeEnvAgent"})
_HELPERS = frozenset({
    "ActorLocationTracker",
    "AutoscalingRequester",
    "SplitCoordinator",
    "StatsActor",
    "JobSupervisor",
}) | AGENTS


@dataclass(frozen=True)
class ProcTitle:
    kind: str  # ACTOR | TASK | IDLE | HELPER | OTHER_ACTOR
    name: str  # the title without ``ray::`` and padding
    operator: str | None = None  # physical operator name for ACTOR / TASK
    method: str | None = None  # actor method running now (``submit``, ``__init__``)

    @property
    def is_agent(self) -> bool:
        return self.kind == HELPER and self.name in AGENTS


def _split_method(name: str) -> tuple[str, str | None]:
    """``Foo(a.b).submit`` -> (``Foo(a.b)``, ``submit``); dots inside parentheses stay."""
    depth = 0
    for i in range(len(name) - 1, -1, -1):
        c = name[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
        elif c == "." and depth == 0:
            return name[:i], name[i + 1:] or None
    return name, None


def _matching_paren(s: str, open_idx: int) -> int:
    depth = 0
    for i in range(open_idx, len(s)):
        if s[i] == "(":
            depth += 1
        elif s[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _is_helper(cls_name: str) -> bool:
    # Ray's private actors are underscore-named (_StatsActor, _AutoscalingCoordinatorActor, ...).
    return cls_name.startswith("_") or cls_name in _HELPERS or "raytop" in cls_name.lower()


def parse_title(title: str | Sequence[str] | None) -> ProcTitle | None:
    """Classify a process title or cmdline; None when it is not a Ray worker (``ray::``) title."""
    if title is None:
        return None
    if not isinstance(title, str):
        title = " ".join(part for part in title if part)
    title = title.strip()
    if not title.startswith("ray::"):
        return None
    name = clean_text(title[len("ray::"):].strip())  # titles are other processes' words
    if not name:
        return None
    if name == "IDLE":
        return ProcTitle(IDLE, name)
    if name.startswith(_MAP_WORKER):
        close = _matching_paren(name, len("MapWorker"))
        if close > 0:
            op = name[len(_MAP_WORKER):close].strip()
            rest = name[close + 1:]
            method = rest[1:] if rest.startswith(".") and len(rest) > 1 else None
            if op and op != "<initializing>":
                return ProcTitle(ACTOR, name, operator=op, method=method)
            return ProcTitle(ACTOR, name, method=method)
    base, method = _split_method(name)
    if _is_helper(base):
        return ProcTitle(HELPER, name, method=method)
    if method is not None and "(" not in base:
        return ProcTitle(OTHER_ACTOR, name, method=method)
    return ProcTitle(TASK, name, operator=name)


def operator_of(title: str | Sequence[str] | None) -> str | None:
    """The Ray Data operator a process works for, from its title; None for anything else."""
    parsed = parse_title(title)
    return parsed.operator if parsed is not None else None
