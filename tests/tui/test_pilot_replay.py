"""Pilot tests: replay stepping and navigation over the committed recordings."""

from __future__ import annotations

from textual.widgets import Input, OptionList

from raytop.tui.operators_table import OperatorsTable
from raytop.tui.screens.detail import OperatorDetailScreen
from raytop.tui.screens.dialogs import DatasetPicker, GotoTime, HelpScreen
from raytop.tui.screens.plan import PlanScreen
from tests.tui.helpers import GPU_REC, replay_app, row_keys, sync, text_of, wait_for, wait_index


@sync
async def test_replay_steps_with_arrows_and_jumps():
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_index(pilot, app, 0)
        assert app.frame.replay.count == 60
        await pilot.press("right", "right", "right")
        await wait_index(pilot, app, 3)
        await pilot.press("left")
        await wait_index(pilot, app, 2)
        assert app.frame.snapshot.t == app.frame.replay.t_start + 2
        await pilot.press("end")
        await wait_index(pilot, app, 59)
        assert app.frame.snapshot.dataset("infer_0").state == "FINISHED"
        await pilot.press("home")
        await wait_index(pilot, app, 0)
        # after a jump the history is rebuilt up to the position (for the timelines)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GotoTime))
        await pilot.press("3", "0", "enter")
        await wait_index(pilot, app, 30)
        assert len(app.frame.history) == 31
        assert [s.t for s in app.frame.history] == sorted(s.t for s in app.frame.history)


@sync
async def test_goto_rejects_garbage_and_keeps_position():
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_index(pilot, app, 0)
        await pilot.press("g", "x", "y", "enter")
        assert isinstance(app.screen, GotoTime)
        assert "not a time" in str(app.screen.query_one("#goto-error").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, GotoTime))
        assert app.frame.replay.index == 0


@sync
async def test_play_speed_and_pause():
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_index(pilot, app, 0)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: app.frame.replay.speed == 4.0)
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: app.frame.replay.speed == 2.0)
        for _ in range(5):
            await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: app.frame.replay.speed == 64.0)
        # from 3 s before the end, at 64x: it plays to the end and stops there by itself
        await pilot.press("g", "5", "6", "enter")
        await wait_index(pilot, app, 56)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.frame.replay.index == 59 and not app.frame.replay.playing)
        # at 1x (a snapshot a second): space plays, space again pauses
        for _ in range(6):
            await pilot.press("left_square_bracket")
        await pilot.press("g", "1", "0", "enter")
        await wait_for(pilot, lambda: app.frame.replay.index == 10 and app.frame.replay.speed == 1.0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.frame.replay.playing)
        assert text_of(app.screen.query_one("#header")).startswith(" REPLAY ▶ ")
        await pilot.press("space")
        await wait_for(pilot, lambda: not app.frame.replay.playing)
        assert text_of(app.screen.query_one("#header")).startswith(" REPLAY  ")
        stopped_at, seen = app.frame.replay.index, app.frames_seen
        # stopped: the next frame is the one a step asks for, and no other comes
        await pilot.press("right")
        await wait_index(pilot, app, stopped_at + 1)
        assert app.frames_seen == seen + 1 and not app.frame.replay.playing


@sync
async def test_overview_shows_operators_gpu_and_memory_panels():
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_index(pilot, app, 0)
        await pilot.press("g")
        await pilot.press("2", "5", "enter")
        await wait_index(pilot, app, 25)
        table = app.screen.query_one(OperatorsTable)
        assert row_keys(table) == ["ReadRange->MapBatches(preprocess)_1", "MapBatches(Model)_2",
                                   "MapBatches(postprocess)_3", "Write_4"]  # op ids
        assert "▶ MapBatches(Model)" in str(table.cell("MapBatches(Model)_2", "Operator"))
        assert "NVML library not found" in text_of(app.screen.query_one("#gpu"))
        assert "store" in text_of(app.screen.query_one("#memory"))
        assert "MapBatches(Model)" in table.border_subtitle  # the bottleneck
        assert "gpu absent: NVML library not found" in text_of(app.screen.query_one("#sources"))


@sync
async def test_enter_opens_detail_esc_returns_and_plan_and_help():
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_index(pilot, app, 0)
        await pilot.press("right", "right")
        await wait_index(pilot, app, 2)
        await pilot.press("j", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OperatorDetailScreen))
        assert "MapBatches(Model)" in text_of(app.screen.query_one("#detail-title"))
        assert "actors running" in text_of(app.screen.query_one("#timelines"))
        await pilot.press("right")  # stepping works on the detail screen too
        await wait_index(pilot, app, 3)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.overview)
        await pilot.press("k")
        assert app.screen.query_one(OperatorsTable).selected_operator() == \
            "ReadRange->MapBatches(preprocess)_1"
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen))
        plan_text = str(app.screen.query_one("#plan-text").render())
        assert "ReadRange->MapBatches(preprocess)" in plan_text and "(2 fused)" in plan_text
        await pilot.press("escape", "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.overview)


@sync
async def test_filter_and_tab_between_panels():
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_index(pilot, app, 0)
        table = app.screen.query_one(OperatorsTable)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("m", "o", "d")  # letters go to the input, not to the app bindings
        await wait_for(pilot, lambda: row_keys(table) == ["MapBatches(Model)_2"])
        assert "filter: mod" in str(table.border_title)
        await pilot.press("enter")
        assert app.focused is table
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 4)
        focused = [app.focused.id]
        for _ in range(3):
            await pilot.press("tab")
            focused.append(app.focused.id)
        assert len(set(focused)) == 4  # table and panels take focus in turn


@sync
async def test_dataset_picker_switches_dataset():
    app = replay_app(GPU_REC)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_index(pilot, app, 0)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasetPicker))
        options = app.screen.query_one(OptionList)
        assert options.option_count == 2
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.screen is app.overview)
        assert app.dataset_id == "eval_1"
        assert row_keys(app.screen.query_one(OperatorsTable)) == ["ReadRange->MapBatches(score)"]
        assert "eval_1" in text_of(app.screen.query_one("#header"))


@sync
async def test_mouse_click_on_scrubber_seeks_and_click_selects_row():
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_index(pilot, app, 0)
        # the end of the track, where the scrubber draws it
        track_end = text_of(app.screen.query_one("#scrubber")).rindex("─")
        await pilot.click("#scrubber", offset=(track_end, 0))
        await wait_index(pilot, app, 59)
        table = app.screen.query_one(OperatorsTable)
        await pilot.click(OperatorsTable, offset=(4, 3))  # header row 1 + border: the 2nd row
        assert table.selected_operator() == "MapBatches(Model)_2"
