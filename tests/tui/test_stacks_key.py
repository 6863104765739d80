"""The ``s`` key: the stacks of the selected operator's busiest workers, collected in a thread
worker and shown in a scrolling screen (live view), or one line saying why not (replay, py-spy
missing, no rights). The stacks function is injected: a fake here, and the view's real one
(``view_stacks``) over a fake session whose bridge answers as the nodes would."""

from __future__ import annotations

import threading

import pytest

from raytop.commands import stacks as stacks_command
from raytop.commands.stacks import view_stacks
from raytop.errors import RaytopError
from raytop.stacks import MISSING, WorkerStack, common_failure
from raytop.tui.app import LiveApp
from raytop.tui.screens.detail import OperatorDetailScreen
from raytop.tui.screens.dialogs import HelpScreen, StacksScreen, help_text
from tests.tui.helpers import replay_app, sync, text_of, wait_for, wait_index
from tests.tui.test_pilot_live import StepSource, _collector, _toasts

STACK = "\n".join(f"    frame_{i} (model.py:{i})" for i in range(120))
PERMISSION = ("Permission Denied: Try running again with elevated permissions by going "
              "'sudo env \"PATH=$PATH\" !!' (py-spy needs the rights to trace the worker: same "
              "user, or root)")


class FakeStacks:
    """Records what it was asked for, on which thread, and answers ``answer(label)``."""

    def __init__(self, answer) -> None:
        self.answer, self.asked, self.threads = answer, [], []

    def __call__(self, operator: str) -> str:
        self.asked.append(operator)
        self.threads.append(threading.current_thread())
        return self.answer(operator)


def _live(stacks) -> tuple:
    collector = _collector(StepSource("cluster", nodes=True, datasets=False))
    return LiveApp(collector, title="raytop attach", address=None, stacks=stacks), collector


@sync
async def test_s_shows_the_stacks_of_the_selected_operator_in_a_scrolling_screen():
    fake = FakeStacks(lambda op: f"stacks of {op}: 1 worker(s)\n\n== pid 7 on 10.0.0.12\n{STACK}")
    app, collector = _live(fake)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await collector.tick_and_show(pilot)
            await pilot.press("j", "s")  # the model, the table's second row
            await wait_for(pilot, lambda: isinstance(app.screen, StacksScreen))
            assert fake.asked == ["MapBatches(Model)"]
            assert fake.threads[0] is not threading.main_thread()  # not on the UI thread
            screen = app.screen
            assert "Stacks of MapBatches(Model)" in text_of(screen.query_one(".dialog-title"))
            shown = str(screen.query_one("#stacks-text").render())
            assert "== pid 7 on 10.0.0.12" in shown and "frame_119 (model.py:119)" in shown
            scroll = screen.query_one("#stacks-scroll")
            assert scroll.max_scroll_y > 0  # 120 frames do not fit: it scrolls
            await pilot.press("end")
            await wait_for(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.overview)
            # from the operator's detail screen: that operator
            await pilot.press("k", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, OperatorDetailScreen))
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, StacksScreen))
            assert fake.asked[-1] == "ReadRange->MapBatches(preprocess)"
    finally:
        collector.stop()


@sync
async def test_s_says_in_one_line_why_there_are_no_stacks():
    def refuse(op: str) -> str:
        raise RaytopError(MISSING)

    app, collector = _live(FakeStacks(refuse))
    try:
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await collector.tick_and_show(pilot)
            await pilot.press("s")
            await app.workers.wait_for_complete()
            await wait_for(pilot, lambda: MISSING in _toasts(app))
            assert f"no stacks of ReadRange->MapBatches(preprocess): {MISSING}" in _toasts(app)
            assert app.screen is app.overview
    finally:
        collector.stop()


@sync
async def test_in_a_replay_s_says_stacks_need_a_live_job():
    app = replay_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_index(pilot, app, 0)
        await pilot.press("s")
        await wait_for(pilot, lambda: "stacks need a live job" in _toasts(app))
        assert app.screen is app.overview and not isinstance(app.screen, StacksScreen)


@sync
async def test_the_help_names_the_key():
    assert "Python stacks of the operator's busiest workers" in help_text(replay=False).plain
    assert "stacks need a live job" in help_text(replay=True).plain
    app, collector = _live(None)
    try:
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await collector.tick_and_show(pilot)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("s")  # nothing to take stacks of on the help screen
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.overview)
            await pilot.press("s")  # no stacks function: said, not raised
            await wait_for(pilot, lambda: "not available" in _toasts(app))
    finally:
        collector.stop()


# -- the view's stacks function over a fake session ---------------------------------------------

class Bridge:
    def __init__(self, local, remote) -> None:
        self.local, self.remote, self.calls = local, remote, []

    def call(self, source: str, method: str, *args):
        self.calls.append((source, method, *args))
        answer = self.local if source == "processes" else self.remote
        if isinstance(answer, Exception):
            raise answer
        return answer


class Session:
    def __init__(self, bridge) -> None:
        self.bridge = bridge

    def ready_bridge(self):
        return self.bridge


def _worker(pid: int, stack=None, error=None) -> WorkerStack:
    return WorkerStack(pid, "10.0.0.12", "ray::MapWorker(MapBatches(Model))", 97.0,
                       stack=stack, error=error)


@pytest.fixture
def py_spy_here(monkeypatch):
    monkeypatch.setattr(stacks_command.shutil, "which", lambda name: "/usr/bin/py-spy")


def test_view_stacks_is_what_the_command_prints(py_spy_here):
    bridge = Bridge([_worker(7, stack="Thread 7 (active)\n  __call__ (model.py:3)")],
                    RaytopError("no other node"))
    text = view_stacks(Session(bridge))("MapBatches(Model) #2")
    assert text.startswith("stacks of MapBatches(Model): 1 worker(s)")
    assert "process titles carry only the name" in text and "__call__ (model.py:3)" in text
    assert bridge.calls[0] == ("processes", "stacks", "MapBatches(Model)", 3, False)


def test_view_stacks_without_rights_or_py_spy_is_one_line(py_spy_here, monkeypatch):
    refused = Bridge([_worker(7, error=PERMISSION), _worker(8, error=PERMISSION)], [])
    with pytest.raises(RaytopError) as no_rights:
        view_stacks(Session(refused))("MapBatches(Model)")
    assert str(no_rights.value) == PERMISSION
    # one worker traced, one refused: the stacks, with the refusal where it belongs
    mixed = Bridge([_worker(7, stack="Thread 7\n  f (a.py:1)"), _worker(8, error=PERMISSION)], [])
    assert "no stack: Permission Denied" in view_stacks(Session(mixed))("MapBatches(Model)")
    monkeypatch.setattr(stacks_command.shutil, "which", lambda name: None)
    with pytest.raises(RaytopError) as missing:
        view_stacks(Session(mixed))("MapBatches(Model)")
    assert str(missing.value) == MISSING


def test_view_stacks_with_no_worker_says_so(py_spy_here):
    text = view_stacks(Session(Bridge([], [])))("MapBatches(Model)")
    assert "no running worker of MapBatches(Model) found" in text


def test_common_failure():
    assert common_failure([]) is None
    assert common_failure([_worker(1, error="x"), _worker(2, error="x")]) == "x"
    assert common_failure([_worker(1, error="x"), _worker(2, error="y")]) is None
    assert common_failure([_worker(1, error="x"), _worker(2, stack="s")]) is None
