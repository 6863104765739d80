"""Everything the Advisor says, tick by tick, over every committed input: the golden check that a
change to the advisor's speed changes none of its findings.

Inputs: the committed recordings (tests/data/*.raytop, examples/*.raytop), the hand-built rule
scenarios (tests/analysis/scenarios.py, test_stall.py), a zip/union graph, small random clusters
(``benchmarks.synthetic.ScaleSim`` at a few seeds) and the first snapshots of the 256 nodes x 8
GPUs x 40 operators simulation ``benchmarks/scale.py`` measures. For each tick: what every rule
returned (all fields of each suggestion), what the Advisor had active and each dataset's
bottleneck over the rule window (``find_bottleneck``); at the end, its ``ever_active()`` and
``errors``.

The whole dump is megabytes, so what is committed (advisor_dump.json) is each input's SHA-256 of
its dump with a summary (ticks, rules found, suggestions ever active); tests/analysis/
test_advisor_dump.py compares. To see what changed, write the full dump before and after the
change and diff them:

    python -m tests.analysis.advisor_dump           # compare with advisor_dump.json (exit 1 if not)
    python -m tests.analysis.advisor_dump --out F   # also write the full dump to F
    python -m tests.analysis.advisor_dump --write   # the findings changed on purpose: record them
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from raytop.model import Snapshot

ROOT = Path(__file__).resolve().parent.parent.parent
GOLDEN = Path(__file__).resolve().parent / "advisor_dump.json"
SCALE_STEPS = 24  # the rule window is full from step 17 on (benchmarks/scale.py's warm-up)


def _recordings() -> Iterator[tuple[str, Callable[[], list[Snapshot]]]]:
    from raytop.recording import RecordingReader

    paths = sorted((ROOT / "tests" / "data").glob("*.raytop")) + sorted((ROOT / "examples").glob("*.raytop"))
    for p in paths:
        def load(p=p) -> list[Snapshot]:
            r = RecordingReader(str(p))
            try:
                return list(r.iter_snapshots())
            finally:
                r.close()
        yield f"recording:{p.relative_to(ROOT)}", load


def _scenarios() -> Iterator[tuple[str, Callable[[], list[Snapshot]]]]:
    from . import scenarios as sc

    plain = ["healthy", "spilling", "store_full", "small_blocks", "large_blocks", "input_starved",
             "pool_undersized", "gpu_oversubscribed", "stateless_model", "fusion_break",
             "heap_pressure", "worker_memory_limit", "gpu_underutilized", "gpu_memory_risk",
             "pool_before_count", "gpu_pool_beyond_cluster", "actor_restarts", "consumer_bound",
             "pipeline_bound", "pool_first_before_count", "stalled"]
    for name in plain:
        yield f"scenario:{name}", getattr(sc, name)
    yield "scenario:healthy_gpu", lambda: sc.healthy(with_gpu=True)
    yield "scenario:gpu_underutilized_no_readings", lambda: sc.gpu_underutilized(readings=False)
    for err in ("CUDA_OOM", "CUDA_OOM_OLD", "RAY_OOM", "STORE_FULL", "DISK_FULL", "ACTOR_DIED",
                "USER_ERROR"):
        yield f"scenario:failed_with_{err}", lambda err=err: sc.failed_with(getattr(sc, err))
    yield "scenario:failed_no_gpu_stats_source", lambda: sc.failed_with(
        sc.USER_ERROR, with_gpu=False, source="stats")


def _stalls() -> Iterator[tuple[str, Callable[[], list[Snapshot]]]]:
    """The stalled rule's histories (tests/analysis/test_stall.py), 5 s apart."""
    from . import test_stall as st

    yield "stall:gpu_actor_pending", lambda: st._gpu_stall()
    yield "stall:no_plan", lambda: st._gpu_stall(plan=False)
    yield "stall:tasks_running", lambda: st._gpu_stall(pending=0, running_actors=1, tasks=2)
    yield "stall:nothing_scheduled", lambda: st._gpu_stall(pending=0, running_actors=1)
    yield "stall:moving_then_stuck", lambda: st._gpu_stall(n=30, moving_until=8)
    yield "stall:consumer_paused", st._consumer_paused


def _graph() -> Iterator[tuple[str, Callable[[], list[Snapshot]]]]:
    """a.zip(b).map_batches(slow).union(c).count(): one branch done, one still reading."""
    from .test_graph import _snap

    figures = {1: dict(state="FINISHED", rows_out=30_000, rows_total=30_000, input_queue_blocks=0,
                       tasks_running=0),
               3: dict(rows_out=9_000, rows_total=30_000, input_queue_blocks=12, tasks_running=2,
                       backpressure=("tasks:ResourceBudget",)),
               4: dict(input_queue_blocks=0, internal_input_queue_blocks=20, tasks_running=0,
                       inputs_queue_blocks=(20, 0)),
               5: dict(input_queue_blocks=0, tasks_running=0)}
    yield "graph:zip_union_count", lambda: [_snap(i, figures) for i in range(25)]
    tails = {**figures, 9: dict(input_queue_blocks=3, tasks_running=1),
             10: dict(input_queue_blocks=2, tasks_running=1)}
    yield "graph:zip_union_count_busy_tail", lambda: [_snap(i, tails if i % 3 else figures)
                                                      for i in range(25)]


def _sims(scale_steps: int) -> Iterator[tuple[str, Callable[[], list[Snapshot]]]]:
    from benchmarks.synthetic import FULL, Scale

    small = Scale(nodes=3, gpus_per_node=2, operators=9, workers=60)
    for seed in (1, 2):  # 70 s: past the Advisor's 60 s history
        yield f"sim:small_seed{seed}", lambda seed=seed: _run_sim(small, seed, 70)
    hot = Scale(nodes=6, gpus_per_node=4, operators=9, workers=120)
    for seed in (4, 5):
        yield f"sim:hot_gpus_seed{seed}", lambda seed=seed: _hot_gpus(_run_sim(hot, seed, 40), seed)
    if scale_steps:
        yield f"sim:full_{scale_steps}", lambda: _run_sim(FULL, 11, scale_steps)


def _run_sim(scale, seed: int, steps: int) -> list[Snapshot]:
    from benchmarks.synthetic import ScaleSim

    sim = ScaleSim(scale, seed=seed)
    return [sim.snapshot(i) for i in range(steps)]


def _hot_gpus(snaps: list[Snapshot], seed: int) -> list[Snapshot]:
    """GPUs near full memory, on and off, some readings missing, nodes leaving, coming back and
    changing order: what the GPU memory rule orders and counts."""
    import dataclasses
    import random

    rng = random.Random(seed)
    hot = {}
    out = []
    for i, s in enumerate(snaps):
        nodes = []
        for n in s.nodes:
            if rng.random() < 0.08:
                continue  # this node's readings are missing from the sample
            gpus = []
            for g in n.gpus:
                level = hot.setdefault((n.node_id, g.index), rng.choice((0.5, 0.96, 0.99, 0.97)))
                if rng.random() < 0.1:
                    gpus.append(dataclasses.replace(g, mem_used_bytes=None))
                    continue
                used = int(g.mem_total_bytes * min(1.0, level + rng.uniform(-0.03, 0.02)))
                gpus.append(dataclasses.replace(g, mem_used_bytes=used))
            nodes.append(dataclasses.replace(n, gpus=tuple(gpus)))
        if i % 7 == 3:
            rng.shuffle(nodes)
        out.append(dataclasses.replace(s, nodes=tuple(nodes)))
    return out


def sources(scale_steps: int = SCALE_STEPS) -> Iterator[tuple[str, Callable[[], list[Snapshot]]]]:
    yield from _recordings()
    yield from _scenarios()
    yield from _stalls()
    yield from _graph()
    yield from _sims(scale_steps)


def _sug(s) -> dict:
    from raytop.analysis.advisor import suggestion_to_dict

    return suggestion_to_dict(s)


def run_one(snaps: Sequence[Snapshot]) -> dict:
    """The Advisor over ``snaps`` (time order): every rule's return and the active list per tick."""
    from raytop.analysis import rules as rules_mod
    from raytop.analysis.advisor import Advisor
    from raytop.analysis.bottleneck import find_bottleneck

    seen: dict[str, list] = {}
    originals = dict(rules_mod.RULES)
    last_rule = list(originals)[-1]
    necks: dict[str, object] = {}

    def spy(rid, fn):
        def wrapped(win):
            out = fn(win)
            seen[rid] = [_sug(s) for s in out]
            if rid == last_rule:  # after every rule: what the TUI and the report would say
                necks.update({ds: find_bottleneck(win.snaps, ds, win.plans) for ds in win.dataset_ids()})
            return out
        return wrapped

    ticks = []
    try:
        for rid, fn in originals.items():
            rules_mod.RULES[rid] = spy(rid, fn)
        adv = Advisor()
        for snap in sorted(snaps, key=lambda s: s.t):
            seen.clear()
            necks.clear()
            active = adv.update(snap)
            ticks.append({"t": snap.t, "found": {k: v for k, v in seen.items() if v},
                          "active": [_sug(s) for s in active], "bottleneck": dict(necks)})
    finally:
        rules_mod.RULES.clear()
        rules_mod.RULES.update(originals)
    return {"ticks": ticks, "ever_active": [_sug(s) for s in adv.ever_active()],
            "errors": dict(sorted(adv.errors.items()))}


def dump(scale_steps: int = SCALE_STEPS) -> dict:
    return {name: run_one(load()) for name, load in sources(scale_steps)}


def to_text(d: dict) -> str:
    return json.dumps(d, sort_keys=True, indent=1) + "\n"


def digest(d: dict, scale_steps: int = SCALE_STEPS) -> dict:
    """What is committed: per input, the SHA-256 of its dump and a summary to read."""
    out = {}
    for name, run in d.items():
        out[name] = {
            "sha256": hashlib.sha256(to_text(run).encode()).hexdigest(),
            "ticks": len(run["ticks"]),
            "rules_found": sorted({r for t in run["ticks"] for r in t["found"]}),
            "ever_active": [f"{s['rule']} {s['severity']} {s['op_id'] or s['operator'] or ''}".strip()
                            for s in run["ever_active"]],
        }
    return {"scale_steps": scale_steps, "inputs": out}


def differences(golden: dict, now: dict) -> list:
    """Inputs whose dump differs from the golden one, in words."""
    if golden.get("scale_steps") != now["scale_steps"]:
        return [f"scale_steps {golden.get('scale_steps')} != {now['scale_steps']}"]
    a, b = golden.get("inputs", {}), now["inputs"]
    out = [f"{k}: {'new' if k not in a else 'gone' if k not in b else 'differs'}"
           for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.analysis.advisor_dump")
    ap.add_argument("--write", action="store_true", help=f"record the findings in {GOLDEN.name}")
    ap.add_argument("--out", type=Path, default=None, help="also write the full dump to this file")
    ap.add_argument("--scale-steps", type=int, default=SCALE_STEPS)
    args = ap.parse_args(argv)
    full = dump(args.scale_steps)
    if args.out is not None:
        args.out.write_text(to_text(full))
    now = digest(full, args.scale_steps)
    if args.write:
        GOLDEN.write_text(to_text(now))
        return 0
    diff = differences(json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}, now)
    print("advisor dump: identical" if not diff else "advisor dump: DIFFERS\n  " + "\n  ".join(diff))
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
