"""Fusion analysis of a captured plan: which logical operators each physical one runs, and why
adjacent ones were not fused.

Mirrors Ray 2.60's ``FuseOperators`` (data/_internal/logical/rules/operator_fusion.py). Ray fuses
from the sink upwards: a downstream *group* (already fused maps) is tried against the original
operator just above it, and the group carries the compute strategy of its last member, the
``ray_remote_args`` of its first, the largest ``batch_size``, the first ``target_max_block_size``
and any ``ray_remote_args_fn``. We evaluate each unfused pair against that group the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import LogicalOp, Plan, to_dict

INHERITABLE_REMOTE_ARGS = ("scheduling_strategy", "label_selector")
# Keys that express a hardware requirement: aligning them would make the other op hold that
# hardware too, which usually costs more than the extra hop between operators.
HARDWARE_KEYS = ("num_gpus", "resources", "accelerator_type")
ROW_CHANGING_CLASSES = ("Read", "Filter", "FlatMap")
ALL_TO_ALL_FUSABLE = ("RandomShuffle", "Repartition")


@dataclass(frozen=True)
class FusionReason:
    code: str  # non-map | actor-upstream | compute-size | row-changing-upstream-batch-size |
    #            remote-args | remote-args-fn | target-max-block-size | streaming-repartition | unknown
    text: str
    fixable: bool
    key: str | None = None
    values: tuple = ()


@dataclass(frozen=True)
class FusedGroup:
    physical: str  # name of the physical operator (display)
    physical_class: str | None
    logical: tuple[str, ...]  # LogicalOp ids
    names: tuple[str, ...]
    op_id: str | None = None  # the physical operator's key: names repeat across branches


@dataclass(frozen=True)
class Boundary:
    upstream: str  # LogicalOp id (or name when only names are known)
    downstream: str
    upstream_name: str
    downstream_name: str
    fused: bool
    reasons: tuple[FusionReason, ...] = ()
    upstream_op: str | None = None  # op keys of the physical operators on either side
    downstream_op: str | None = None

    @property
    def fixable(self) -> bool:
        """Not fused, and every reason is one the user can change."""
        return (not self.fused) and bool(self.reasons) and all(r.fixable for r in self.reasons)


@dataclass(frozen=True)
class PlanAnalysis:
    groups: tuple[FusedGroup, ...]
    boundaries: tuple[Boundary, ...]
    reasons_known: bool


def plan_analysis_to_dict(pa: PlanAnalysis) -> dict:
    d = to_dict(pa)
    for b, bd in zip(pa.boundaries, d["boundaries"], strict=True):
        bd["fixable"] = b.fixable
    return d


def analyze_plan(plan: Plan) -> PlanAnalysis:
    if plan.source == "names" or not plan.logical:
        return _analyze_names(plan)
    return _analyze_probe(plan)


# ---- names only ---------------------------------------------------------------------------


def _phys_key(p) -> str:
    return p.op_id or p.name


def _names_boundary(up, down_names: tuple[str, ...], up_key: str, down_key: str) -> Boundary:
    up_names = tuple(n.strip() for n in up.name.split("->"))
    if up.physical_class == "ActorPoolMapOperator":
        reason = FusionReason(
            "actor-upstream", f"{up_names[-1]} runs on an actor pool; Ray never fuses an "
            "actor-pool operator with the one after it", False)
    else:
        reason = FusionReason(
            "unknown", "no plan capture (raytop did not start this job): only the "
            "physical names are known, not why Ray kept these apart", False)
    return Boundary(up_names[-1], down_names[0], up_names[-1], down_names[0], False, (reason,),
                    up_key, down_key)


def _analyze_names(plan: Plan) -> PlanAnalysis:
    groups: list[FusedGroup] = []
    boundaries: list[Boundary] = []
    keyed = {_phys_key(p): p for p in plan.physical}
    by_name = {p.name: p for p in plan.physical}
    prev = None
    for p in plan.physical:
        if p.physical_class == "InputDataBuffer" or p.name == "Input":
            continue
        key = _phys_key(p)
        names = tuple(n.strip() for n in p.name.split("->"))
        groups.append(FusedGroup(p.name, p.physical_class, tuple(p.logical), names, key))
        for a, b in zip(names, names[1:], strict=False):
            boundaries.append(Boundary(a, b, a, b, True, (), key, key))
        if p.input_ids:
            ups = [keyed[k] for k in p.input_ids if k in keyed]
        else:
            ups = [by_name[p.inputs[0]]] if p.inputs and p.inputs[0] in by_name else [prev] if prev else []
        for up in ups:
            if up is not None and not (up.physical_class == "InputDataBuffer" or up.name == "Input"):
                boundaries.append(_names_boundary(up, names, up.op_id or up.name, key))
        prev = p
    return PlanAnalysis(tuple(groups), tuple(boundaries), reasons_known=False)


# ---- full capture -------------------------------------------------------------------------


def _analyze_probe(plan: Plan) -> PlanAnalysis:
    by_id = {lop.id: lop for lop in plan.logical}
    member_of: dict[str, str] = {}  # logical id -> physical op key
    groups: list[FusedGroup] = []
    members: dict[str, list[LogicalOp]] = {}
    for p in plan.physical:
        ids = tuple(i for i in p.logical if i in by_id)
        if not ids:
            continue
        key = _phys_key(p)
        groups.append(FusedGroup(p.name, p.physical_class, ids, tuple(by_id[i].name for i in ids),
                                 key))
        members[key] = [by_id[i] for i in ids]
        for lid in ids:
            member_of[lid] = key
    for lop in plan.logical:  # ops the physical list missed, placed by their own record
        owner = lop.physical_id or lop.physical
        if lop.id not in member_of and owner:
            member_of[lop.id] = owner
            members.setdefault(owner, []).append(lop)

    boundaries: list[Boundary] = []
    for down in plan.logical:
        for up_id in down.inputs:
            up = by_id.get(up_id)
            if up is None:
                continue
            g_up, g_down = member_of.get(up.id), member_of.get(down.id)
            fused = g_up is not None and g_up == g_down
            reasons: tuple[FusionReason, ...] = ()
            if not fused:
                group = members.get(g_down or "", [down])
                start = group.index(down) if down in group else 0
                multi_input = len(down.inputs) > 1
                reasons = tuple(explain_unfused(up, group[start:] or [down], multi_input))
            boundaries.append(Boundary(up.id, down.id, up.name, down.name, fused, reasons,
                                       g_up, g_down))
    return PlanAnalysis(tuple(groups), tuple(boundaries), reasons_known=True)


def _size(op: LogicalOp) -> int | None:
    return op.max_size if op.max_size is not None else op.min_size


def _modifies_rows(op: LogicalOp) -> bool:
    if op.can_modify_num_rows is not None:
        return op.can_modify_num_rows
    return op.op_class.startswith(ROW_CHANGING_CLASSES)


def canonical_remote_args(args) -> dict[str, Any]:
    """Ray's ``_canonicalize``: num_cpus defaults to 1, num_gpus to 0, zero resources dropped."""
    out = dict(args or {})
    if out.get("num_cpus") is None:
        out["num_cpus"] = 1
    if out.get("num_gpus") is None:
        out["num_gpus"] = 0
    res = {k: v for k, v in dict(out.get("resources") or {}).items() if v not in (None, 0, 0.0)}
    out["resources"] = res
    return out


def remote_arg_differences(up_args, down_args) -> list[tuple[str, Any, Any]]:
    """(key, upstream value, downstream value) for every key that blocks fusion."""
    up, down = canonical_remote_args(up_args), canonical_remote_args(down_args)
    for key in INHERITABLE_REMOTE_ARGS:
        if key in up and key not in down:
            down[key] = up[key]
    keys = sorted(set(up) | set(down))
    return [(k, up.get(k), down.get(k)) for k in keys if up.get(k) != down.get(k)]


def _v(v) -> str:
    return "unset" if v is None else repr(v) if isinstance(v, str) else str(v)


def explain_unfused(up: LogicalOp, group: list[LogicalOp], multi_input: bool = False
                    ) -> list[FusionReason]:
    """Why Ray 2.60 kept ``up`` apart from the fused group starting at ``group[0]``."""
    structural = _structural_reason(up, group[0], multi_input)
    if structural is not None:
        return [structural]
    maps = [g for g in group if g.is_map]
    reasons = (_compute_reasons(up, maps[-1] if maps else group[0])
               + _batch_size_reasons(up, group[0], maps)
               + _remote_args_fn_reasons(up, maps)
               + _remote_arg_reasons(up, group[0])
               + _block_size_reasons(up, group[0], maps))
    return reasons or [FusionReason(
        "unknown", "the captured settings would allow fusion; Ray kept them apart for a reason "
        "the capture does not show (e.g. a read split into more blocks than it has files)", False)]


def _structural_reason(up: LogicalOp, down: LogicalOp, multi_input: bool) -> FusionReason | None:
    """A reason no setting changes: not a pair of maps, or a streaming repartition."""
    shuffle_after_map = up.is_map and down.op_class in ALL_TO_ALL_FUSABLE
    if multi_input or not up.is_map or not (down.is_map or shuffle_after_map):
        odd = down if up.is_map else up
        return FusionReason("non-map", f"{odd.name} is not a map operator ({odd.op_class}); Ray "
                            "only fuses chains of maps (and a map into a shuffle)", False)
    if down.op_class == "StreamingRepartition" or up.op_class == "StreamingRepartition":
        return FusionReason("streaming-repartition", "a streaming repartition only fuses after a "
                            "map_batches whose batch_size is a multiple of its rows per block", False)
    return None


def _compute_reasons(up: LogicalOp, last: LogicalOp) -> list[FusionReason]:
    """The compute strategies: an actor upstream never fuses; task pool sizes must agree."""
    if up.compute == "actor":
        return [FusionReason(
            "actor-upstream", f"{up.name} runs on an actor pool; Ray never fuses an actor-pool "
            "operator with the one after it", False)]
    if up.compute == "task" and last.compute == "task" and _size(up) != _size(last):
        return [FusionReason(
            "compute-size", f"task pool sizes differ: {up.name} size={_v(_size(up))}, "
            f"{last.name} size={_v(_size(last))}", True, "concurrency", (_size(up), _size(last)))]
    if (up.compute == "task" and last.compute == "actor" and _size(up) is not None
            and _size(up) != last.max_size):
        return [FusionReason(
            "compute-size", f"{up.name} task pool size={_size(up)} differs from the actor pool "
            f"max_size={_v(last.max_size)} of {last.name}", True, "concurrency",
            (_size(up), last.max_size))]
    return []


def _batch_size_reasons(up: LogicalOp, down: LogicalOp, maps: list[LogicalOp]) -> list[FusionReason]:
    batch_sizes = [g.batch_size for g in maps if g.batch_size is not None]
    if not batch_sizes or not _modifies_rows(up) or up.op_class == "MapBatches":
        return []
    return [FusionReason(
        "row-changing-upstream-batch-size",
        f"{up.name} may change the row count and {down.name} asks for batch_size="
        f"{max(batch_sizes)}; Ray keeps them apart so batches stay whole and {up.name} keeps "
        "its parallelism", False, "batch_size", (max(batch_sizes),))]


def _remote_args_fn_reasons(up: LogicalOp, maps: list[LogicalOp]) -> list[FusionReason]:
    fn_ops = [o.name for o in [up, *maps] if o.has_remote_args_fn]
    if not fn_ops:
        return []
    return [FusionReason(
        "remote-args-fn", f"{', '.join(fn_ops)} uses ray_remote_args_fn; Ray cannot know the "
        "generated args ahead of time and never fuses such operators", False,
        "ray_remote_args_fn")]


def _remote_arg_reasons(up: LogicalOp, down: LogicalOp) -> list[FusionReason]:
    """One reason per ``ray_remote_args`` key that differs; hardware keys are not fixable."""
    out = []
    for key, a, b in remote_arg_differences(up.ray_remote_args, down.ray_remote_args):
        hardware = key in HARDWARE_KEYS
        text = (f"ray_remote_args differ in {key}: {up.name} has {_v(a)}, {down.name} has {_v(b)}"
                + (" (after Ray's defaults num_cpus=1, num_gpus=0)"
                   if key in ("num_cpus", "num_gpus") else ""))
        if hardware:
            text += ("; this is a real hardware requirement, aligning it would make the other "
                     "operator hold that hardware, usually not worth it")
        out.append(FusionReason("remote-args", text, not hardware, key, (a, b)))
    return out


def _block_size_reasons(up: LogicalOp, down: LogicalOp, maps: list[LogicalOp]) -> list[FusionReason]:
    blocks = [g.target_max_block_size for g in maps if g.target_max_block_size is not None]
    if up.target_max_block_size is None or not blocks or blocks[0] == up.target_max_block_size:
        return []
    return [FusionReason(
        "target-max-block-size", f"target_max_block_size differs: {up.name} "
        f"{up.target_max_block_size}, {down.name} {blocks[0]}", True, "target_max_block_size",
        (up.target_max_block_size, blocks[0]))]
