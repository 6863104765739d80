"""Each misconfigured demo, run for real under `raytop run --headless`, raises its own rule.

Every demo starts its own local Ray (2 CPUs), so these run one after another as subprocesses.
The advisor's verdict comes from the recording, as a user would get it with `raytop report`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.demos.demo_runs import DEMOS, ROOT, describe, run_demo, warnings_of

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# demo file -> the rule it plants
PLANTED = {
    "spilling.py": "spilling",
    "small_blocks.py": "small-blocks",
    "large_blocks.py": "large-blocks",
    "input_starved.py": "input-starved",
    "actor_pool_undersized.py": "actor-pool-undersized",
    "gpu_oversubscribed.py": "gpu-oversubscribed",
    "gpu_pool_beyond_cluster.py": "gpu-oversubscribed",
    "stateless_model.py": "stateless-model",
    "fusion_break.py": "fusion-break",
    "heap_pressure.py": "heap-pressure",
    "object_store_pressure.py": "object-store-pressure",
    "stragglers.py": "stragglers",
}

# Demos whose rule does not yet fire reliably on a loaded 2-core machine: kept as demos, not tested.
UNRELIABLE: dict[str, str] = {}

# Run by default (one of each family of rules: blocks, store, actor pools, GPUs, fusion, input);
# every demo with RAYTOP_ALL_DEMOS=1, and ten times each in `python -m benchmarks --only diagnosis`.
DEFAULT = ("spilling.py", "small_blocks.py", "input_starved.py", "actor_pool_undersized.py",
           "gpu_oversubscribed.py", "fusion_break.py")


def _params():
    everything = os.environ.get("RAYTOP_ALL_DEMOS") == "1"
    for demo in sorted(PLANTED):
        marks = () if everything or demo in DEFAULT else (
            pytest.mark.skip(reason="set RAYTOP_ALL_DEMOS=1 (and see the diagnosis benchmark)"),)
        yield pytest.param(demo, marks=marks, id=demo)


@pytest.fixture(scope="module")
def tmp_root(demo_tmp) -> Path:
    return demo_tmp


def test_every_plantable_rule_has_a_demo():
    from raytop.analysis.rules import RULE_IDS

    assert set(PLANTED.values()) <= set(RULE_IDS)
    # GPU readings (NVML) cannot be planted on a CPU machine; everything else is, here or in
    # demos/consumers and demos/failures (tests/demos/test_diagnosis_demos.py).
    from tests.core.test_stall_e2e import PLANTED as STALL  # a stall never ends: that test ends it
    from tests.demos.test_diagnosis_demos import PLANTED as ISSUE_13

    planted = {**PLANTED, **UNRELIABLE}
    elsewhere = {rule for rule, _ in ISSUE_13.values()} | set(STALL.values())
    assert set(RULE_IDS) - set(planted.values()) - elsewhere == {"gpu-underutilized", "gpu-memory-risk"}
    assert sorted(p.name for p in DEMOS.glob("*.py")) == sorted(planted)


@pytest.mark.parametrize("demo", _params())
def test_demo_raises_its_rule_first(demo, tmp_root):
    _, snaps, sugs = run_demo(DEMOS / demo, tmp_root)
    assert any(d.source == "probe" for s in snaps for d in s.datasets), "the probe never reported"
    warn = warnings_of(sugs)
    assert warn, f"{demo}: nothing at warning or above\n{describe(sugs)}"
    assert warn[0].rule == PLANTED[demo], f"{demo}: ranked first is {warn[0].rule}\n{describe(sugs)}"
    assert warn[0].fix and warn[0].evidence


def test_healthy_demo_raises_nothing(tmp_root):
    _, snaps, sugs = run_demo(ROOT / "demos" / "healthy.py", tmp_root)
    assert any(d.state == "FINISHED" for s in snaps for d in s.datasets)
    assert not warnings_of(sugs), describe(sugs)
    # read -> map_batches(batch_size=...) stays apart, and the analysis says why: inherent.
    from raytop.analysis.plan import analyze_plan

    plan = next(d.plan for s in reversed(snaps) for d in s.datasets if d.plan is not None)
    unfused = [b for b in analyze_plan(plan).boundaries if not b.fused]
    assert len(unfused) == 1
    assert unfused[0].upstream_name == "ReadRange"
    assert unfused[0].downstream_name == "MapBatches(load)"  # load fuses into preprocess
    assert [r.code for r in unfused[0].reasons] == ["row-changing-upstream-batch-size"]
    assert not unfused[0].fixable


def test_fusion_break_report_names_num_cpus_and_both_values(tmp_root):
    rec, _, _ = run_demo(DEMOS / "fusion_break.py", tmp_root)
    out = tmp_root / "fusion_break.json"
    res = subprocess.run([sys.executable, "-m", "raytop", "report", str(rec), "--format", "json",
                          "-o", str(out), "--force"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(out.read_text())
    assert {"suggestions", "plan", "datasets"} <= set(report)
    fb = [s for s in report["suggestions"] if s["rule"] == "fusion-break"]
    assert len(fb) == 1, report["suggestions"]
    s = fb[0]
    assert s["severity"] == "warning"
    assert s["operator"] == "MapBatches(normalize)"
    assert "num_cpus" in s["fix"] and "num_cpus" in s["evidence"]
    assert "0.5" in s["fix"] and "1" in s["fix"]
    assert s["figures"]["key"] == "num_cpus" and s["figures"]["values"] == [1, 0.5]
    (boundaries,) = [p["boundaries"] for p in report["plan"].values()]
    broken = [b for b in boundaries if not b["fused"]]
    assert [(b["upstream_name"], b["downstream_name"]) for b in broken] == [
        ("MapBatches(decode)", "MapBatches(normalize)")]
    assert broken[0]["fixable"] and broken[0]["reasons"][0]["key"] == "num_cpus"


def test_ci_gate_fails_on_a_planted_problem_and_passes_the_healthy_demo(tmp_root):
    """`--fail-on warning`: the planted demo exits 3 and names its finding on stderr; the
    healthy one exits 0; the verdict is in the recording for the report."""
    from tests.demos.demo_runs import gate_results

    planted = DEMOS / "actor_pool_undersized.py"
    rec, _, _ = run_demo(planted, tmp_root)
    code, stderr = gate_results[str(planted)]
    assert code == 3, stderr[-2000:]
    assert "--fail-on warning: " in stderr and "actor-pool-undersized" in stderr
    healthy = ROOT / "demos" / "healthy.py"
    run_demo(healthy, tmp_root)
    assert gate_results[str(healthy)][0] == 0, gate_results[str(healthy)][1][-2000:]
    from raytop.recording import RecordingReader

    with RecordingReader(rec) as reader:
        gates = [e for e in reader.events() if e.kind == "ci_gate"]
    assert gates and gates[-1].data["failed"] and gates[-1].data["level"] == "warning"
