"""What the app renders: a Frame (latest snapshot, bounded history, advice, plan analyses).

Frames are built off the UI thread (collector sink or replay worker) by a ``FrameBuilder`` and
posted whole, so the UI only swaps references; before the first one the screens show
``EMPTY_FRAME``. The advisor and the plan analysis are imported lazily: when the analysis package
is not importable the frame says so (``advice_available``).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raytop.model import Event, NodeStats, Snapshot, Suggestion
from raytop.tui import derive
from raytop.tui.trouble import Trouble, node_trouble

HISTORY_LEN = 300
BOTTLENECK_WINDOW = 15  # snapshots, the advisor's window at 1 Hz
EVENTS_LEN = 200

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayPosition:
    index: int
    count: int
    t_start: float
    t_end: float
    playing: bool
    speed: float


@dataclass(frozen=True, eq=False)  # compared by identity: a new frame is a new view
class Frame:
    snapshot: Snapshot
    history: tuple[Snapshot, ...]  # oldest first; the last one is ``snapshot``
    suggestions: tuple[Suggestion, ...] = ()
    advice_available: bool = False  # False: the advisor could not be imported / failed
    advice_error: str | None = None
    plans: Mapping[str, Any] = field(default_factory=dict)  # dataset_id -> PlanAnalysis | None
    plan_analysis_available: bool = False
    events: tuple[Event, ...] = ()
    replay: ReplayPosition | None = None
    # dataset_id -> op key of the operator limiting throughput, by the advisor's own rule
    # (analysis.bottleneck.find_bottleneck over the last BOTTLENECK_WINDOW snapshots)
    bottlenecks: Mapping[str, str | None] = field(default_factory=dict)
    bottleneck_available: bool = False
    # dataset_id -> op key -> rows/s (``derive.op_rates``), for the operators table
    op_rates: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    # one per node of ``snapshot`` (``trouble.node_trouble``), what the node views rank by
    node_troubles: tuple[Trouble, ...] = ()

    @property
    def empty(self) -> bool:
        """True for ``EMPTY_FRAME``, what the screens show before the first snapshot (a built
        frame always holds its snapshot in ``history``)."""
        return not self.history


EMPTY_FRAME = Frame(snapshot=Snapshot(t=0.0), history=())


def _load_advisor():
    try:
        from raytop.analysis.advisor import Advisor
    except ImportError as e:  # the analysis package may not be there (yet)
        log.debug("advisor unavailable: %s", e)
        return None
    return Advisor


def _load_find_bottleneck():
    try:
        from raytop.analysis.bottleneck import find_bottleneck
    except ImportError as e:
        log.debug("bottleneck analysis unavailable: %s", e)
        return None
    return find_bottleneck


def _load_analyze_plan():
    try:
        from raytop.analysis.plan import analyze_plan
    except ImportError as e:
        log.debug("plan analysis unavailable: %s", e)
        return None
    return analyze_plan


class FrameBuilder:
    """Keeps the history, the stateful advisor and a plan-analysis cache; one owner thread."""

    def __init__(self, history_len: int = HISTORY_LEN):
        self.history: collections.deque[Snapshot] = collections.deque(maxlen=history_len)
        self.events: collections.deque[Event] = collections.deque(maxlen=EVENTS_LEN)
        self._advisor_cls = _load_advisor()
        self._advisor = self._advisor_cls() if self._advisor_cls else None
        self._advice_error: str | None = None
        self._suggestions: tuple[Suggestion, ...] = ()
        self._analyze_plan = _load_analyze_plan()
        self._find_bottleneck = _load_find_bottleneck()
        self._plan_cache: dict[str, tuple[Any, Any]] = {}  # dataset_id -> (plan, analysis)
        self._troubles: dict[int, tuple[NodeStats, Trouble]] = {}  # id -> (node, its trouble)

    def reset(self, snapshots: Sequence[Snapshot] = ()) -> None:
        """Start over from ``snapshots`` (a replay jump): history and advisor state rebuilt."""
        self.history.clear()
        self._advisor = self._advisor_cls() if self._advisor_cls else None
        self._suggestions = ()
        for snap in snapshots:
            self._ingest(snap)

    def add_event(self, ev: Event) -> None:
        self.events.append(ev)

    def set_events(self, events: Sequence[Event]) -> None:
        self.events.clear()
        self.events.extend(events)

    def _ingest(self, snap: Snapshot) -> None:
        self.history.append(snap)
        if self._advisor is not None:
            try:
                self._suggestions = tuple(self._advisor.update(snap))
                self._advice_error = None
            except Exception as e:  # a rule bug must not take the view down
                log.exception("advisor failed")
                self._advice_error = f"advisor failed: {type(e).__name__}: {e}"

    def _plans(self, snap: Snapshot) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ds in snap.datasets:
            if ds.plan is None or self._analyze_plan is None:
                out[ds.dataset_id] = None
                continue
            cached = self._plan_cache.get(ds.dataset_id)
            if cached is not None and cached[0] == ds.plan:
                out[ds.dataset_id] = cached[1]
                continue
            try:
                analysis = self._analyze_plan(ds.plan)
            except Exception:
                log.exception("plan analysis failed")
                analysis = None
            self._plan_cache[ds.dataset_id] = (ds.plan, analysis)
            out[ds.dataset_id] = analysis
        return out

    def frame(self, snap: Snapshot, *, ingest: bool = True,
              replay: ReplayPosition | None = None) -> Frame:
        if ingest:
            self._ingest(snap)
        events = tuple(ev for ev in self.events if ev.t <= snap.t) if replay else tuple(self.events)
        history = tuple(self.history)
        return Frame(
            snapshot=snap,
            history=history,
            suggestions=self._suggestions,
            advice_available=self._advisor is not None and self._advice_error is None,
            advice_error=self._advice_error,
            plans=self._plans(snap),
            plan_analysis_available=self._analyze_plan is not None,
            events=events[-EVENTS_LEN:],
            replay=replay,
            bottlenecks=self._bottlenecks(snap),
            bottleneck_available=self._find_bottleneck is not None,
            op_rates={ds.dataset_id: derive.op_rates(history, ds.dataset_id)
                      for ds in snap.datasets},
            node_troubles=self._node_troubles(snap.nodes),
        )

    def _node_troubles(self, nodes: Sequence[NodeStats]) -> tuple[Trouble, ...]:
        """Each node's trouble; a node the sources handed on unchanged (the very object of the
        last frame) keeps the trouble it had, not ranked again (at 1,000 nodes most are)."""
        before = self._troubles
        troubles = tuple(before[id(n)][1] if id(n) in before and before[id(n)][0] is n
                         else node_trouble(n) for n in nodes)
        self._troubles = {id(n): (n, t) for n, t in zip(nodes, troubles, strict=True)}
        return troubles

    def _bottlenecks(self, snap: Snapshot) -> dict[str, str | None]:
        """The same bottleneck the advisor reasons about, so the view and the advice agree."""
        if self._find_bottleneck is None:
            return {}
        window = list(self.history)[-BOTTLENECK_WINDOW:]
        out: dict[str, str | None] = {}
        for ds in snap.datasets:
            try:
                out[ds.dataset_id] = self._find_bottleneck(window, ds.dataset_id)
            except Exception:
                log.exception("bottleneck analysis failed")
                out[ds.dataset_id] = None
        return out
