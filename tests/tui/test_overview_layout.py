"""The room each overview panel gets: the operators table is as high as its rows (header and
border included), at most half the screen and never so high that the advice panel gets less than
its minimum; the advice panel takes the rest, so it shows every line of the top suggestion when
the screen has room for them. Asserted on the widgets' regions, at 80x24, 160x48 and 200x50 over
the CPU recording at t=25 s, and with a pipeline of 40 operators."""

from __future__ import annotations

import dataclasses

import pytest

from raytop.tui.app import RaytopApp
from raytop.tui.frame import FrameBuilder
from raytop.tui.messages import FrameReady
from raytop.tui.operators_table import OperatorsTable
from raytop.tui.screens.overview import ADVICE_MIN, TABLE_SHARE
from tests.tui.helpers import committed_snapshots, replay_app, sync, wait_for, wait_index

BORDER = 2  # the table's and the advice panel's round border, top and bottom
HEADER = 1  # the table's header line


def _regions(app) -> dict:
    """Where the overview's widgets are (no scrubber outside a replay)."""
    return {w.id: w.region for w in app.screen.query(
        "#operators, #bottom, #advice-box, #advice, #scrubber, #sources")}


async def _settled(pilot, app) -> None:
    """Until the table's height is the one the overview set for it (the layout after a frame)."""
    table = app.screen.query_one(OperatorsTable)

    def cap() -> int:
        bound = table.styles.max_height
        return int(bound.value) if bound is not None else 10 ** 6

    await wait_for(pilot, lambda: table.region.height == min(
        table.row_count + HEADER + BORDER, cap()))


@pytest.mark.parametrize("size", [(80, 24), (160, 48), (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
@sync
async def test_the_table_has_its_rows_and_the_advice_the_rest(size):
    app = replay_app()
    async with app.run_test(size=size) as pilot:
        await wait_index(pilot, app, 0)
        await pilot.press("g", "2", "5", "enter")
        await wait_index(pilot, app, 25)
        await _settled(pilot, app)
        table = app.screen.query_one(OperatorsTable)
        r = _regions(app)
        # four operators: four rows, the header and the border; no empty row
        assert table.row_count == 4
        assert r["operators"].height == 4 + HEADER + BORDER
        # the advice panel starts under the table and ends at the scrubber: all the rest
        assert r["bottom"].y == r["operators"].bottom
        assert r["bottom"].bottom == r["scrubber"].y
        assert r["advice-box"] == r["bottom"]
        top = app.frame.suggestions[0]
        advice = str(app.screen.query_one("#advice").render())
        assert top.evidence in advice and top.fix in advice
        box = app.screen.query_one("#advice-box")
        inner = box.scrollable_content_region
        if size == (80, 24):
            # no room for all of it: the panel keeps what is left (more than its minimum) and
            # scrolls
            assert r["bottom"].height > ADVICE_MIN
            assert r["advice"].height > inner.height and box.max_scroll_y > 0
        else:
            # room: every line of the suggestions (the top one's evidence and fix with them)
            # is inside the panel, with no scrolling
            assert r["advice"].y >= inner.y and r["advice"].bottom <= inner.bottom
            assert box.max_scroll_y == 0


def _wide_frames(count: int) -> list:
    """Frames of the CPU recording's first 26 snapshots, the last one's dataset widened to
    ``count`` operators (copies of its own with their own op ids)."""
    snaps = committed_snapshots()[:26]
    last = snaps[-1]
    ds = last.datasets[0]
    ops = tuple(dataclasses.replace(ds.operators[i % len(ds.operators)], op_id=f"Extra_{i}",
                                    name=f"Extra{i}") for i in range(count))
    wide = dataclasses.replace(last, datasets=(dataclasses.replace(ds, operators=ops),))
    builder = FrameBuilder()
    frames = [builder.frame(s) for s in snaps]
    return frames[:-1] + [builder.frame(wide)]


async def _post(pilot, frame) -> None:
    app = pilot.app
    seen = app.frames_seen
    app.post_message(FrameReady(frame))
    await wait_for(pilot, lambda: app.frames_seen == seen + 1)
    await _settled(pilot, app)


@sync
async def test_many_operators_take_at_most_half_the_screen_and_shrink_back():
    frames = _wide_frames(40)
    app = RaytopApp(title="layout")
    async with app.run_test(size=(160, 48)) as pilot:
        await _post(pilot, frames[-1])
        table = app.screen.query_one(OperatorsTable)
        r = _regions(app)
        assert table.row_count == 40
        assert r["operators"].height == int(48 * TABLE_SHARE)  # bounded; the rest scrolls
        assert table.max_scroll_y > 0
        assert r["bottom"].y == r["operators"].bottom and r["bottom"].height >= ADVICE_MIN
        # back to the recording's four operators: the table shrinks to them, the advice grows
        await _post(pilot, frames[-2])
        r = _regions(app)
        assert table.row_count == 4 and r["operators"].height == 4 + HEADER + BORDER
        assert r["bottom"].y == r["operators"].bottom and r["bottom"].bottom == r["sources"].y


@sync
async def test_on_a_short_screen_the_table_leaves_the_advice_its_minimum():
    frames = _wide_frames(40)
    app = RaytopApp(title="layout")
    async with app.run_test(size=(80, 24)) as pilot:
        await _post(pilot, frames[-1])
        r = _regions(app)
        # half of 24 lines would leave the advice panel less than its minimum
        assert r["operators"].height < int(24 * TABLE_SHARE)
        assert r["bottom"].height == ADVICE_MIN
        assert r["bottom"].y == r["operators"].bottom and r["bottom"].bottom == r["sources"].y


@sync
async def test_on_a_tiny_screen_the_table_takes_what_the_hidden_advice_leaves():
    frames = _wide_frames(40)
    app = RaytopApp(title="layout")
    async with app.run_test(size=(80, 18)) as pilot:
        seen = app.frames_seen
        app.post_message(FrameReady(frames[-1]))
        await wait_for(pilot, lambda: app.frames_seen == seen + 1)
        r = _regions(app)
        assert not app.screen.query_one("#bottom").display
        assert r["operators"].bottom == r["sources"].y and r["operators"].height > 18 // 2
