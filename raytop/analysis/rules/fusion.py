"""fusion-break: two adjacent maps that Ray kept apart for a reason the user can change."""

from __future__ import annotations

from ...format import NA, fmt_plain
from ...model import LogicalOp, Suggestion
from ..plan import Boundary, FusionReason, analyze_plan
from ..window import Window
from .common import call, suggest


def _val(v) -> str:
    return "unset" if v is None else fmt_plain(v) if isinstance(v, (int, float)) else repr(v)


def _fix(reason: FusionReason, up: LogicalOp, down: LogicalOp) -> str:
    a, b = (tuple(reason.values) + (None, None))[:2]
    if reason.code == "remote-args":
        if b is None:
            return (f"{call(up.name, f'{reason.key}=...')}: drop {reason.key}={_val(a)} "
                    f"or set the same on {down.name}")
        if a is None:
            return (f"{call(down.name, f'{reason.key}=...')}: drop {reason.key}={_val(b)} "
                    f"or set the same on {up.name}")
        return (call(down.name, f"{reason.key}={_val(a)}") + f"  # now {_val(b)}; or "
                f"{reason.key}={_val(b)} on {up.name} too (now {_val(a)})")
    if reason.code == "compute-size":
        if down.compute == "actor":
            return (call(up.name, f"compute=TaskPoolStrategy(size={_val(b)})") + f"  # now size={_val(a)}"
                    f"; or no size on {up.name}: a task pool fuses into the actor pool of {down.name}")
        return (call(up.name, f"compute=TaskPoolStrategy(size={_val(b)})") + f"  # now size={_val(a)}; "
                f"or the same size on {down.name}")
    if reason.code == "target-max-block-size":
        return (f"the same target_max_block_size on {up.name} and {down.name} (now {_val(a)} and "
                f"{_val(b)}), or leave it unset on one of them")
    return reason.text


def check_fusion_break(win: Window) -> list[Suggestion]:
    out = []
    for ds_id in win.dataset_ids():
        plan = win.plan(ds_id)
        if plan is None or plan.source == "names":
            continue
        by_id: dict[str, LogicalOp] = {lop.id: lop for lop in plan.logical}
        pa = win.summary(plan, analyze_plan)
        for b in pa.boundaries:
            if not b.fixable:
                continue
            up, down = by_id[b.upstream], by_id[b.downstream]
            op_key = b.downstream_op or down.physical_id or down.physical
            op_name = win.label(ds_id, op_key) if op_key else b.downstream_name
            why = "; ".join(r.text for r in b.reasons)
            evidence = (f"{b.upstream_name} and {b.downstream_name} run as separate operators "
                        f"({up.physical or NA} -> {down.physical or NA}), so every block crosses "
                        f"the object store between them: {why}")
            fix = "; and ".join(_fix(r, up, down) for r in b.reasons)
            severity = "warning"
            if up.compute == "task" and down.compute == "actor":
                # Fusing would move the CPU work onto the model's actors: one hop fewer, but it
                # then scales only with the pool. A deliberate split is common, so only inform.
                severity = "info"
                evidence += (f". Fusing would run {b.upstream_name} inside {op_name}'s actors: no "
                             f"object store hop, but it would then scale only with the actor pool")
            key = next((r.key for r in b.reasons if r.key), None)
            values = next((list(r.values) for r in b.reasons if r.values), [])
            out.append(suggest("fusion-break", severity,
                               f"{b.upstream_name} and {b.downstream_name} are not fused", evidence,
                               fix, operator=op_name, op_id=op_key, dataset_id=ds_id, window=win,
                               figures={"upstream": b.upstream_name, "downstream": b.downstream_name,
                                        "codes": [r.code for r in b.reasons], "key": key,
                                        "values": values}))
    return out


def boundaries_of(win: Window, ds_id: str) -> list[Boundary]:
    plan = win.plan(ds_id)
    return list(analyze_plan(plan).boundaries) if plan is not None else []
