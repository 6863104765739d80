"""One job started with plain `python` against `ray start`, watched two ways at once:

- probe-free (`raytop record`): Ray's stats actor and exported series only;
- injected (`raytop record --inject`): raytop loads its probe into the running driver with gdb.

Each recorder listens on its own probe channel, so the probe-free one never hears the injected
probe. After both left, the job reports whether raytop's agent went quiet and runs once more.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from raytop.analysis.advisor import advise
from tests.attach.helpers import (
    JOBS,
    dataset_samples,
    events_of,
    finished_with_rows,
    read_back,
    start_recorder,
    stop_recorder,
    wait_until,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")]

ROWS = 24_000  # what jobs/known_rows.py writes
FUSED = "ReadRange->MapBatches(featurize)"
MODEL = "MapBatches(Scorer)"


@pytest.fixture(scope="module")
def watched(ray_start, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attach")
    report, go_on = tmp / "job.json", tmp / "go-on"
    job_log = open(tmp / "job.log", "wb")
    job = subprocess.Popen([sys.executable, str(JOBS / "known_rows.py"), str(tmp / "out"),
                            str(report), str(go_on)],
                           env=ray_start.env(), cwd=tmp, stdout=job_log, stderr=subprocess.STDOUT)
    free = start_recorder(ray_start, tmp / "free.raytop", tmp / "ch-free")
    injected = start_recorder(ray_start, tmp / "inj.raytop", tmp / "ch-inj", "--inject")
    try:
        for rec in ("free.raytop", "inj.raytop"):
            wait_until(finished_with_rows(tmp / rec, ROWS), 300, f"{rec} to show {ROWS} rows")
        codes = (stop_recorder(free), stop_recorder(injected))
        go_on.touch()
        job.wait(120)
    finally:
        for proc in (free, injected, job):
            if proc.poll() is None:
                proc.kill()
    yield {"tmp": tmp, "codes": codes, "job_code": job.returncode,
           "job_report": json.loads(report.read_text()) if report.exists() else None,
           "job_log": (tmp / "job.log").read_text(errors="replace"),
           "free": read_back(tmp / "free.raytop"), "inj": read_back(tmp / "inj.raytop"),
           "inj_err": (tmp / "inj.err").read_text(errors="replace")}


def test_recorders_and_job_ended_cleanly(watched):
    assert watched["codes"] == (0, 0)
    assert watched["job_code"] == 0, watched["job_log"][-3000:]
    assert "Traceback" not in watched["job_log"]


def test_probe_free_rows_are_the_rows_written(watched):
    snaps, _ = watched["free"]
    final = [d for _, d in dataset_samples(snaps, "FINISHED")][-1]
    assert final.source == "stats" and final.probe is None
    assert final.rows_out == ROWS  # the rows fed to the write, not the write's result rows
    ops = {o.name: o for o in final.operators}
    assert ops[FUSED].rows_out == ROWS and ops[MODEL].rows_out == ROWS
    assert final.plan is not None and final.plan.source == "names"
    assert [p.name for p in final.plan.physical] == ["Input", FUSED, MODEL, "Write"]
    assert final.notes and "probe-free" in final.notes[0]


def test_probe_free_rows_per_second_follow_the_job(watched):
    snaps, _ = watched["free"]
    final = [d for _, d in dataset_samples(snaps, "FINISHED")][-1]
    # Ray's series carry no end time; raytop's is when it first saw the end (a refresh late).
    assert final.end_time is not None and final.end_time > final.start_time
    true_rate = ROWS / watched["job_report"]["phase1_s"]  # the job's own clock
    # While the rows operator (the one feeding the write) works:
    working = [d for _, d in dataset_samples(snaps, "RUNNING")
               if next(o for o in d.operators if o.name == MODEL).state != "FINISHED"]
    rates = [d.rows_per_s for d in working if d.rows_per_s is not None]
    # Ray's series refresh every ~10 s, so the first rate needs two refreshes; after that it is
    # there in every sample, never a stuck 0, and on average close to the real throughput.
    assert len(rates) >= len(working) / 3, (len(rates), len(working))
    assert all(r > 0 for r in rates), rates
    mean = sum(rates) / len(rates)
    assert 0.5 * true_rate <= mean <= 2.0 * true_rate, (mean, true_rate)


def test_injected_probe_reports_plan_and_rows(watched):
    snaps, events = watched["inj"]
    injected = events_of(events, "probe_injected")
    assert len(injected) == 1, events
    assert injected[0].data["method"] == "gdb" and injected[0].data["seconds"] < 10
    assert events_of(events, "probe_reporting"), events
    probe_samples = [d for _, d in dataset_samples(snaps) if d.source == "probe"]
    assert probe_samples and all(d.probe == "injected" for d in probe_samples)
    final = probe_samples[-1]
    assert final.state == "FINISHED" and final.rows_out == ROWS
    assert final.plan is not None and final.plan.source == "probe"
    logical = [op.name for op in final.plan.logical]
    assert logical == ["ReadRange", "MapBatches(featurize)", "MapBatches(Scorer)", "Write"]
    model = next(op for op in final.plan.logical if op.name == MODEL)
    assert model.compute == "actor" and model.ray_remote_args.get("num_cpus") == 0.5
    assert {o.physical_class for o in final.operators} >= {"TaskPoolMapOperator",
                                                           "ActorPoolMapOperator"}


def test_injected_agent_goes_quiet_and_the_job_carries_on(watched):
    report = watched["job_report"]
    assert report is not None, watched["job_log"][-3000:]
    assert report["raytop_loaded"]  # the probe was in this driver...
    alive = report["agent_alive_after_raytop_left_s"]
    assert alive is not None and alive <= 10 + 3  # ...and its thread ended once raytop left
    assert "raytop-agent" not in report["threads"]
    assert report["rows2"] == 5_000


def test_probe_free_raises_nothing_the_probe_does_not(watched):
    # The same stretch of the job for both: from the injected probe's first report (the job ran
    # probe-free before it, and the start of a job is when pools wait for their first input).
    inj_snaps = watched["inj"][0]
    since = min(s.t for s in inj_snaps if any(d.source == "probe" for d in s.datasets))
    free_snaps = [s for s in watched["free"][0] if s.t >= since]
    free_found = [s for s in advise(free_snaps) if s.severity in ("warning", "critical")]
    free = {(s.rule, s.operator) for s in free_found}
    injected = {(s.rule, s.operator) for s in advise(inj_snaps)
                if s.severity in ("warning", "critical")}
    # On failure, what the probe-free side saw: the evidence and figures of what only it raised.
    extra = [(s.rule, s.operator, s.evidence, dict(s.figures)) for s in free_found
             if (s.rule, s.operator) not in injected]
    assert free <= injected, (free, injected, extra)
