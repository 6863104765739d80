"""Pilot tests of the live view: the real Collector over hand-built sources, and a real script
subprocess for `raytop run`'s log panel and exit state.

The collector is ticked by the test (``ManualCollector``), so each frame is one the test asked for
and the waits are on frames handled, not on the collector's clock."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import threading

from raytop.collector import Collector
from raytop.commands.script import ScriptJob
from raytop.model import DriverInfo, Event
from raytop.sources.base import Part, SourceAbsent
from raytop.tui.app import LiveApp
from raytop.tui.operators_table import OperatorsTable
from raytop.tui.screens.dialogs import ConfirmInject
from tests.tui.helpers import DATA, row_keys, sync, text_of, wait_for

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


class ManualCollector(Collector):
    """The real collector without its thread: the test ticks it (on a thread of its own, as the
    collector thread would), one snapshot per tick."""

    def start(self) -> None:
        pass

    async def tick_and_show(self, pilot) -> None:
        """One collection; returns once the app handled its frame."""
        app = pilot.app
        seen = app.frames_seen
        await asyncio.to_thread(self.tick, 60.0)  # sources answer at once; 60 s is only a bound
        await wait_for(pilot, lambda: app.frames_seen == seen + 1)


def _collector(cluster: StepSource, *extra) -> ManualCollector:
    probe = StepSource("probe", nodes=False, datasets=True)
    return ManualCollector([cluster, probe, NoGpu(), *extra], interval=0.2)


class Drivers:
    """The cluster's drivers: the pipeline's, which raytop could load its probe into."""

    name = "drivers"

    def read(self) -> Part:
        return Part(drivers=(DriverInfo(pid=4242, job_id="01000000", level="injectable",
                                        entrypoint="python job.py"),))

    def close(self) -> None:
        pass


class Injector:
    def __init__(self) -> None:
        self.pids: list[int] = []

    def inject_now(self, pid: int) -> Event:
        self.pids.append(pid)
        return Event(t=0.0, kind="probe_injected", message=f"the probe reports from pid {pid}")


def _toasts(app) -> str:
    return "\n".join(text_of(toast) for toast in app.screen.query("Toast"))


@sync
async def test_live_view_renders_and_pauses():
    cluster = StepSource("cluster", nodes=True, datasets=False)
    collector = _collector(cluster)
    app = LiveApp(collector, title="raytop attach", address=None)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(3):
                await collector.tick_and_show(pilot)
            assert len(app.frame.history) == 3
            table = app.screen.query_one(OperatorsTable)
            assert "MapBatches(Model)_2" in row_keys(table)  # op ids
            assert text_of(app.screen.query_one("#header")).startswith(" LIVE ")
            assert "absent: NVML library not found" in text_of(app.screen.query_one("#sources"))
            await pilot.press("p")
            assert app.mode.label == "PAUSED"
            assert text_of(app.screen.query_one("#header")).startswith(" PAUSED ")
            frozen = app.frame
            for _ in range(2):
                await collector.tick_and_show(pilot)
            assert app.frame is frozen  # frames keep coming, the view holds still
            await pilot.press("p")
            await wait_for(pilot, lambda: app.frame is not frozen)
            assert len(app.frame.history) == 5  # the newest frame held while paused
            assert app.mode.label == "LIVE"
            # the cluster goes away: a visible state, not an exit
            cluster.fail = True
            await collector.tick_and_show(pilot)
            assert app.mode.label == "DISCONNECTED"
            assert app.frame.snapshot.sources["cluster"].startswith("stale")
    finally:
        collector.stop()


@sync
async def test_i_loads_the_probe_in_a_worker_once_confirmed():
    collector = _collector(StepSource("cluster", nodes=True, datasets=False), Drivers())
    injector = Injector()
    app = LiveApp(collector, title="raytop attach", address=None, injector=injector)
    try:
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await collector.tick_and_show(pilot)
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmInject))
            await pilot.press("y")
            await app.workers.wait_for_complete()
            await wait_for(pilot, lambda: "the probe reports from pid 4242" in _toasts(app))
            assert injector.pids == [4242]
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
            await collector.tick_and_show(pilot)
            await wait_for(pilot, lambda: app.exit_code == 3)
            # the update that brings the exit code brings the whole output with it
            lines = app.screen.query_one("#log").lines
            assert "hello line 0" in lines and "hello line 2" in lines and "oops" in lines
            assert text_of(app.screen.query_one("#header")).startswith(" SCRIPT EXITED 3 ")
            assert "exited with code 3" in str(app.screen.query_one("#log-box").border_title)
            await collector.tick_and_show(pilot)
            assert app.is_running  # the view stays until q
            await pilot.press("q")
        assert not app.is_running
    finally:
        collector.stop()
        job.wait(timeout=30)
    assert sys.executable  # the script ran with this interpreter (ScriptJob's contract)
