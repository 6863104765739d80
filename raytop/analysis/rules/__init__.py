"""The advisor's rules: each a function over a ``Window`` returning ``Suggestion``s.

Rule ids are stable (docs/advisor.md, "Rules"). ``RAISE_AFTER`` says how many consecutive
evaluations a rule must hold before the Advisor raises it: plan facts hold from the first look.
"""

from __future__ import annotations

from collections.abc import Callable

from ...model import Suggestion
from .. import thresholds as th
from ..window import Window
from .actors import check_actor_pool_undersized, check_input_starved
from .blocks import check_large_blocks, check_small_blocks
from .consumer import check_consumer_bound
from .failures import check_actor_restarts, check_failures
from .fusion import check_fusion_break
from .gpu import check_gpu_memory_risk, check_gpu_underutilized
from .memory import check_heap_pressure
from .placement import check_gpu_oversubscribed, check_stateless_model
from .stall import check_stalled
from .store import check_object_store_pressure, check_spilling
from .stragglers import check_stragglers

RuleFn = Callable[[Window], list[Suggestion]]

RULES: dict[str, RuleFn] = {
    "spilling": check_spilling,
    "object-store-pressure": check_object_store_pressure,
    "small-blocks": check_small_blocks,
    "large-blocks": check_large_blocks,
    "input-starved": check_input_starved,
    "actor-pool-undersized": check_actor_pool_undersized,
    "gpu-oversubscribed": check_gpu_oversubscribed,
    "stateless-model": check_stateless_model,
    "fusion-break": check_fusion_break,
    "heap-pressure": check_heap_pressure,
    "gpu-underutilized": check_gpu_underutilized,
    "gpu-memory-risk": check_gpu_memory_risk,
    "actor-restarts": check_actor_restarts,
    "consumer-bound": check_consumer_bound,
    "stragglers": check_stragglers,
    "stalled": check_stalled,
    # last: a failure's finding replaces a dynamic rule's finding of the same key
    "dataset-failed": check_failures,
}

RULE_IDS: tuple[str, ...] = tuple(RULES)

RAISE_AFTER: dict[str, int] = {rid: th.RAISE_AFTER for rid in RULE_IDS}
RAISE_AFTER.update({"fusion-break": th.PLAN_RAISE_AFTER, "stateless-model": th.PLAN_RAISE_AFTER,
                    "spilling": 2, "dataset-failed": th.PLAN_RAISE_AFTER,
                    # the stall's own time (STALL_S) is its hysteresis
                    "stalled": th.PLAN_RAISE_AFTER})

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def raise_after(s: Suggestion) -> int:
    """Evaluations a suggestion must hold before it is raised: a failure is a fact at once."""
    if s.figures.get("failure"):
        return 1
    return RAISE_AFTER.get(s.rule, th.RAISE_AFTER)


def rank_key(s: Suggestion):
    """Severity, then a failure's finding first, then impact; the rest only breaks ties, so the
    same suggestions always come in the same order."""
    return (SEVERITY_RANK.get(s.severity, 3), not s.figures.get("failure"),
            -float(s.figures.get("impact", 0.0)), s.rule, s.dataset_id or "", s.op_id or "",
            s.operator or "")
