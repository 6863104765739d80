"""Sorting the operators table: ``o`` cycles the column (largest first), ``O`` reverses, a click
on a header sorts by it; the plan's order by default and after the last column; numbers sort as
numbers, unknown values last either way; the cursor stays on its operator."""

from __future__ import annotations

from raytop.model import ActorCounts, OperatorStats
from raytop.tui.operators_table import (
    NARROW,
    OPERATOR,
    PIPELINE,
    OperatorsTable,
    SortOrder,
    next_sort,
    sort_operators,
)
from tests.tui.helpers import replay_app, row_keys, sync, wait_for, wait_index

READ, MODEL, POST, WRITE = ("ReadRange->MapBatches(preprocess)_1", "MapBatches(Model)_2",
                            "MapBatches(postprocess)_3", "Write_4")


def _op(name: str, queued: object = None, actors: object = None) -> OperatorStats:
    return OperatorStats(name=name, op_id=f"{name}_0", input_queue_bytes=queued,
                         actors=None if actors is None else ActorCounts(running=actors))


def test_numbers_sort_as_numbers_and_unknown_values_go_last():
    ops = [_op("a", 9), _op("b", None), _op("c", 100), _op("d", 10), _op("e", 10)]
    names = lambda order: [o.name for o in sort_operators(ops, order, lambda op: None)]  # noqa: E731
    assert names(SortOrder("In q", descending=True)) == ["c", "d", "e", "a", "b"]
    assert names(SortOrder("In q", descending=False)) == ["a", "d", "e", "c", "b"]
    assert names(PIPELINE) == ["a", "b", "c", "d", "e"]
    assert names(SortOrder(OPERATOR, descending=True)) == ["e", "d", "c", "b", "a"]
    # rows/s come from the frame, not the operator: by the function given
    rates = {"a": 2.0, "b": None, "c": 10.0, "d": 1.5, "e": None}
    by_rate = sort_operators(ops, SortOrder("Rows/s", True), lambda op: rates[op.name])
    assert [o.name for o in by_rate] == ["c", "a", "d", "b", "e"]


def test_o_goes_through_the_columns_shown_and_back_to_the_plan_order():
    order, seen = PIPELINE, []
    for _ in range(len(NARROW)):
        order = next_sort(order, NARROW)
        seen.append(order)
    assert [o.column for o in seen[:-1]] == list(NARROW[1:])
    assert all(o.descending for o in seen[:-1]) and seen[-1] == PIPELINE


async def _press_until(pilot, table, key: str, column: str) -> None:
    """Press ``key`` until the table is sorted by ``column``, then let the table show it."""
    while True:
        await pilot.press(key)
        if table.sort.column == column:
            break
    await pilot.pause()


@sync
async def test_sort_keys_and_header_clicks_on_the_replay():
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_index(pilot, app, 0)
        await pilot.press("g", "2", "5", "enter")
        await wait_index(pilot, app, 25)
        table = app.screen.query_one(OperatorsTable)
        assert row_keys(table) == [READ, MODEL, POST, WRITE]  # the plan's order by default
        assert [table.header_label(c) for c in table.columns] == list(NARROW)  # no mark
        await pilot.press("j")
        assert table.selected_operator() == MODEL
        # In q at t=25: read 0B, model 408M, post 8.0M, write 0B: by bytes, not by the text
        await _press_until(pilot, table, "o", "In q")
        assert table.sort == SortOrder("In q", descending=True)
        assert row_keys(table) == [MODEL, POST, READ, WRITE]
        assert "In q ▼" in [table.header_label(c) for c in table.columns]
        assert table.selected_operator() == MODEL and table.cursor_row == 0  # cursor followed
        await pilot.press("O")
        await wait_for(pilot, lambda: table.sort.descending is False)
        assert row_keys(table) == [READ, WRITE, POST, MODEL]
        assert "In q ▲" in [table.header_label(c) for c in table.columns]
        # Actors: only the model's pool has one; the task operators' unknown values stay last
        await _press_until(pilot, table, "o", "Actors")  # round the columns again
        assert row_keys(table) == [MODEL, READ, POST, WRITE]
        await pilot.press("O")
        await wait_for(pilot, lambda: not table.sort.descending)
        assert row_keys(table) == [MODEL, READ, POST, WRITE]
        # the sort holds while the replay moves on
        await pilot.press("right")
        await wait_index(pilot, app, 26)
        assert table.sort == SortOrder("Actors", descending=False)
        # after the last column: the plan's order, no mark
        await _press_until(pilot, table, "o", OPERATOR)
        assert table.sort == PIPELINE and row_keys(table) == [READ, MODEL, POST, WRITE]
        assert [table.header_label(c) for c in table.columns] == list(NARROW)
        # a click on a header sorts by that column; a second click turns it round
        x = sum(c.width + 2 for c in table.columns[:table.columns.index(
            next(c for c in table.columns if c.key == "In q"))]) + 2
        await pilot.click(OperatorsTable, offset=(x + 2, 1))  # border + padding, header line
        await wait_for(pilot, lambda: table.sort == SortOrder("In q", descending=True))
        assert row_keys(table) == [MODEL, POST, READ, WRITE]
        await pilot.click(OperatorsTable, offset=(x + 2, 1))
        await wait_for(pilot, lambda: table.sort == SortOrder("In q", descending=False))


@sync
async def test_sort_keys_go_to_the_filter_while_typing():
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_index(pilot, app, 0)
        table = app.screen.query_one(OperatorsTable)
        await pilot.press("slash", "o", "O")
        await wait_for(pilot, lambda: table.filter_text == "oO")
        assert table.sort == PIPELINE
