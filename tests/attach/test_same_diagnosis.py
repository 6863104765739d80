"""One misconfigured demo, three ways: under `raytop run`; started with plain `python` against
`ray start` and watched by `raytop record` without the probe; and, at the same time, by
`raytop record --inject`. The injected attach must name exactly the warning-level rules of `run`;
the probe-free one may name fewer, never one that `run` does not."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from raytop.analysis.advisor import advise
from raytop.recording import RecordingError
from tests.attach.helpers import events_of, read_back, start_recorder, stop_recorder, wait_until
from tests.demos.demo_runs import DEMOS, describe, run_demo, warnings_of

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")]

DEMO = DEMOS / "actor_pool_undersized.py"


def _connected(path):
    def check() -> bool:
        try:
            snaps, _ = read_back(path) if path.exists() else ([], ())
        except RecordingError:
            return False
        return any(s.sources.get("cluster") == "ok" for s in snaps)
    return check


def _rules(sugs) -> set:
    return {(s.rule, s.operator) for s in warnings_of(sugs)}


@pytest.fixture(scope="module")
def three_ways(ray_start, demo_tmp, tmp_path_factory):
    _, _, run_sugs = run_demo(DEMO, demo_tmp)
    tmp = tmp_path_factory.mktemp("three-ways")
    free = start_recorder(ray_start, tmp / "free.raytop", tmp / "ch-free")
    injected = start_recorder(ray_start, tmp / "inj.raytop", tmp / "ch-inj", "--inject")
    try:
        for rec in ("free.raytop", "inj.raytop"):  # both watch the cluster before the job starts
            wait_until(_connected(tmp / rec), 120, f"{rec} to read the cluster")
        # Three times the rows: attach spots a Ray Data job from Ray's series (a few seconds),
        # so the probe goes in while most of the job is still ahead.
        job = subprocess.run([sys.executable, str(DEMO)], env=ray_start.env(DEMO_ROWS="9600"), cwd=tmp,
                             capture_output=True, text=True, timeout=300)
    finally:
        codes = (stop_recorder(free), stop_recorder(injected))
    assert job.returncode == 0, job.stderr[-3000:]
    assert codes == (0, 0)
    free_snaps, _ = read_back(tmp / "free.raytop")
    inj_snaps, inj_events = read_back(tmp / "inj.raytop")
    return {"run": run_sugs, "free": advise(free_snaps), "inj": advise(inj_snaps),
            "inj_events": inj_events}


def test_injected_attach_names_what_run_names(three_ways):
    assert events_of(three_ways["inj_events"], "probe_injected"), three_ways["inj_events"]
    run, inj = _rules(three_ways["run"]), _rules(three_ways["inj"])
    assert ("actor-pool-undersized",
            "MapBatches(preprocess)->MapBatches(Embedder)") in run, describe(three_ways["run"])
    assert inj == run, f"run:\n{describe(three_ways['run'])}\ninjected:\n{describe(three_ways['inj'])}"


def test_probe_free_attach_contradicts_nothing(three_ways):
    free, run = _rules(three_ways["free"]), _rules(three_ways["run"])
    assert free <= run, f"run:\n{describe(three_ways['run'])}\nprobe-free:\n{describe(three_ways['free'])}"
