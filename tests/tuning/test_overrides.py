"""`raytop run --set`: arguments of a script's Ray Data calls changed without editing it, checked
before the script starts, and said in the recording and the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from raytop.errors import BadInput
from raytop.recording import RecordingReader
from raytop.tuning.overrides import check_against_script, operators_in_source, parse_setting, parse_settings

TARGET = Path(__file__).with_name("override_target.py")


@pytest.mark.parametrize("text, operator, key, value", [
    ("MapBatches(preprocess).concurrency=8", "MapBatches(preprocess)", "concurrency", 8),
    ("MapBatches(Model).concurrency=1-4", "MapBatches(Model)", "concurrency", (1, 4)),
    ("MapBatches(Model).batch_size=512", "MapBatches(Model)", "batch_size", 512),
    ("MapBatches(Model).batch_size=default", "MapBatches(Model)", "batch_size", None),
    ("MapBatches(Cls.method).num_gpus=0.5", "MapBatches(Cls.method)", "num_gpus", 0.5),
    ("Filter(keep).num_cpus=0.25", "Filter(keep)", "num_cpus", 0.25),
    ("ReadParquet.override_num_blocks=200", "ReadParquet", "override_num_blocks", 200),
    ("DataContext.target_max_block_size=67108864", "DataContext", "target_max_block_size",
     67108864),
])
def test_settings_parse(text, operator, key, value):
    o = parse_setting(text)
    assert (o.operator, o.key, o.value, o.text) == (operator, key, value, text)


@pytest.mark.parametrize("text, why", [
    ("nonsense", "write OPERATOR.key=value"),
    ("MapBatches(f).colour=blue", "unknown key 'colour'"),
    ("Map(f).batch_size=10", "unknown key 'batch_size' for Map"),
    ("ReadRange.batch_size=10", "unknown key 'batch_size' for Read"),
    ("Sort(x).num_cpus=1", "not an operator raytop can set"),
    ("MapBatches(f).concurrency=0", "1 or more"),
    ("MapBatches(f).concurrency=4-2", "minimum is above the maximum"),
    ("MapBatches(f).num_cpus=-1", "0 or more"),
    ("MapBatches(a)->MapBatches(b).num_cpus=1", "not a fused one"),
    ("DataContext.no_such_setting=1", "DataContext has no setting"),
])
def test_bad_settings_are_one_line(text, why):
    with pytest.raises(BadInput, match=why):
        parse_setting(text)


def test_the_same_setting_twice_is_refused():
    with pytest.raises(BadInput, match="given twice"):
        parse_settings(["MapBatches(f).num_cpus=1", "MapBatches(f).num_cpus=2"])


def test_operators_are_read_from_the_script():
    names, unsure = operators_in_source(TARGET.read_text())
    assert names == {"ReadRange", "MapBatches(double)", "MapBatches(Tag)"} and not unsure
    names, unsure = operators_in_source("ds.map_batches(udfs[0]).filter(lambda r: r)")
    assert names == {"Filter(<lambda>)"} and unsure
    with pytest.raises(BadInput, match="has no operator MapBatches"):
        check_against_script(parse_settings(["MapBatches(nope).num_cpus=1"]), TARGET)


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_run_with_overrides_changes_the_plan_and_says_so(tmp_path):
    rec = tmp_path / "r.raytop"
    res = subprocess.run(
        [sys.executable, "-m", "raytop", "run", "--headless", "--interval", "0.5", "--record",
         str(rec), "--set", "MapBatches(double).batch_size=50", "--set",
         "MapBatches(Tag).concurrency=2", "--set", "ReadRange.override_num_blocks=8",
         "--set", "MapBatches(double).num_gpus=0", str(TARGET)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
        env={**__import__("os").environ, "RAY_ADDRESS": "local"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "rows 2000" in res.stdout
    with RecordingReader(rec) as reader:
        assert reader.meta["overrides"][0] == "MapBatches(double).batch_size=50"
        events = [e for e in reader.events() if e.kind == "overrides"]
        snaps = list(reader.iter_snapshots())
    assert events and events[0].data["unmatched"] == []
    plan = next(d.plan for s in reversed(snaps) for d in s.datasets if d.plan is not None)
    logical = {op.name: op for op in plan.logical}
    assert logical["MapBatches(double)"].batch_size == 50
    assert (logical["MapBatches(Tag)"].min_size, logical["MapBatches(Tag)"].max_size) == (2, 2)
    read = next(o for o in snaps[-1].datasets[0].operators if o.name.startswith("ReadRange"))
    assert read.blocks_out == 8
