"""The benchmark suite keeps working: `python -m benchmarks --quick` runs end to end and its JSON
holds every measurement with a value (or the reason it was skipped) and a target. No thresholds:
speed is judged by the suite's own table, never here."""

from __future__ import annotations

import json
import subprocess
import sys
from numbers import Number
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "job_slowdown_no_record", "job_slowdown_default", "job_slowdown_0_1s", "run_cpu_ratio_percent",
    "probe_step_median_ms", "probe_step_p99_ms", "probe_report_median_ms",
    "inject_hello_s", "inject_first_full_s", "probe_step_dormant_median_ms",
    "probe_step_injected_median_ms", "probe_step_quiet_median_ms", "always_on_hook_us",
    "scale_merge_ms", "scale_advisor_ms", "scale_tui_ms", "sim_read_cpu_ms",
    "recording_mb_per_hour_synthetic", "recording_open_seek_ms", "recording_mb_per_hour_demo",
    "recording_mb_per_hour_1000_nodes", "report_24h_s", "report_24h_peak_rss_mb", "report_rss_24h_vs_2h",
    "footprint_cpu_percent", "footprint_rss_mb", "footprint_rss_growth",
    "startup_replay_s", "startup_attach_s",
}
# --quick skips the demo job runs, and so has no real demo recording to size
SKIPPED_IN_QUICK = {"job_slowdown_no_record", "job_slowdown_default", "job_slowdown_0_1s",
                    "run_cpu_ratio_percent", "recording_mb_per_hour_demo"}


@pytest.mark.ray
def test_quick_suite_writes_every_measurement(tmp_path):
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["failures"] == []
    machine = data["machine"]
    assert machine["cpu_count"] >= 1 and machine["ray"] and machine["python"]
    by_id = {m["id"]: m for m in data["measurements"]}
    assert set(by_id) == EXPECTED
    for mid, m in by_id.items():
        assert m["target_text"], mid
        assert "target" in m and (m["target"] is None) == (m["compare"] == "stated"), mid
        if mid in SKIPPED_IN_QUICK:
            assert m["value"] is None and m["skipped"], mid
        else:
            assert m["skipped"] is None, (mid, m["skipped"])
            assert isinstance(m["value"], Number) and m["value"] > 0, (mid, m["value"])
            assert m["met"] in (True, False, None)
    for m in data["measurements"]:  # the printed table shows every figure
        assert m["label"] in p.stdout


def test_bad_option_is_one_line_exit_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nonsense"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "unknown group" in p.stderr
