"""Pilot tests of the live view: the real Collector over hand-built sources, and a real script
subprocess for `raytop run`'s log panel and exit state."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading

from raytop.collector import Collector
from raytop.commands.script import ScriptJob
from raytop.sources.base import Part, SourceAbsent
from raytop.tui.app import LiveApp
from raytop.tui.operators_table import OperatorsTable
from tests.tui.helpers import DATA, sync, wait_for

_spec = importlib.util.spec_from_file_location("make_fixtures", DATA / "make_fixtures.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


class StepSource:
    """Hands out the fixture pipeline's snapshots one read at a time, as a probe + cluster would."""

    def __init__(self, name: str, *, nodes: bool, datasets: bool):
        self.name, self._nodes, self._datasets = name, nodes, datasets
        self._i = 0
        self._lock = threading.Lock()
        self.fail = False

    def read(self) -> Part:
        if self.fail:
            raise ConnectionError("GCS unreachable")
        with self._lock:
            i, self._i = self._i, min(self._i + 1, fixtures.STEPS - 1)
        snap = fixtures.snapshot(i, gpu=False)
        return Part(datasets=snap.datasets if self._datasets else (),
                    nodes=snap.nodes if self._nodes else (), address=snap.address)

    def close(self) -> None:
        pass


class NoGpu:
    name = "gpu"

    def read(self) -> Part:
        raise SourceAbsent("NVML library not found")

    def close(self) -> None:
        pass


def _collector(cluster: StepSource) -> Collector:
    probe = StepSource("probe", nodes=False, datasets=True)
    return Collector([cluster, probe, NoGpu()], interval=0.2)


@sync
async def test_live_view_renders_and_pauses():
    cluster = StepSource("cluster", nodes=True, datasets=False)
    collector = _collector(cluster)
    app = LiveApp(collector, title="raytop attach", address=None)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.frame is not None and len(app.frame.history) >= 3)
            table = app.screen.query_one(OperatorsTable)
            assert "MapBatches(Model)_2" in table._keys  # op ids
            assert app.mode[0] == "LIVE"
            assert "absent: NVML library not found" in app.screen.query_one("#sources").render().plain
            await pilot.press("p")
            assert app.mode[0] == "PAUSED"
            frozen, seen = app.frame, app.frames_seen
            await wait_for(pilot, lambda: app.frames_seen >= seen + 2)
            assert app.frame is frozen  # frames keep coming, the view holds still
            await pilot.press("p")
            await wait_for(pilot, lambda: app.frame is not frozen)
            assert app.mode[0] == "LIVE"
            # the cluster goes away: a visible state, not an exit
            cluster.fail = True
            await wait_for(pilot, lambda: app.mode[0] == "DISCONNECTED")
            assert app.frame.snapshot.sources["cluster"].startswith("stale")
    finally:
        collector.stop()


@sync
async def test_run_shows_script_log_and_keeps_view_after_exit(tmp_path):
    script = tmp_path / "job.py"
    script.write_text("import sys\nfor i in range(3):\n    print(f'hello line {i}', flush=True)\n"
                      "print('oops', file=sys.stderr, flush=True)\nsys.exit(3)\n")
    log_path = tmp_path / "job.raytop.log"
    job = ScriptJob(str(script), [], env=dict(os.environ), capture=True, log_path=log_path).start()
    collector = _collector(StepSource("cluster", nodes=True, datasets=False))
    app = LiveApp(collector, title="raytop run job.py", address=None, job=job, log_path=log_path)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.exit_code == 3)
            await wait_for(pilot, lambda: "oops" in "\n".join(app.screen.query_one("#log").lines))
            lines = app.screen.query_one("#log").lines
            assert "hello line 0" in lines and "hello line 2" in lines
            assert app.mode[0] == "SCRIPT EXITED 3"
            assert "exited with code 3" in str(app.screen.query_one("#log-box").border_title)
            await wait_for(pilot, lambda: app.frame is not None)
            assert app.is_running  # the view stays until q
            await pilot.press("q")
        assert not app.is_running
    finally:
        collector.stop()
        job.wait(timeout=30)
    assert sys.executable  # the script ran with this interpreter (ScriptJob's contract)
