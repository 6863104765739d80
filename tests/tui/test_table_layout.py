"""The operators table shows a function of the frames it was given and its width, not of when the
screen's layout settled: frames posted before or after a height-only resize give one table.

(Both used to differ: a resize re-laid the table out with the name width left by the columns of
the frame shown before, and DataTable sized its columns on a later idle, so a repaint in between
kept cells at the old widths.)"""

from __future__ import annotations

from raytop.recording import RecordingReader
from raytop.tui.app import RaytopApp
from raytop.tui.frame import FrameBuilder
from raytop.tui.messages import FrameReady
from raytop.tui.operators_table import OperatorsTable
from tests.tui.helpers import CPU_REC, ensure_fixtures, sync, wait_for


def _frames(indexes: list[int]) -> list:
    """The recording's frames at ``indexes``, built as the replay builds them when it plays."""
    ensure_fixtures()
    builder = FrameBuilder()
    with RecordingReader(CPU_REC) as reader:
        built = [builder.frame(reader.snapshot(i)) for i in range(max(indexes) + 1)]
    return [built[i] for i in indexes]


async def _post(pilot, frames) -> None:
    app = pilot.app
    for count, frame in enumerate(frames, start=app.frames_seen + 1):
        app.post_message(FrameReady(frame))
        await wait_for(pilot, lambda count=count: app.frames_seen == count)


async def _table_after(frames, *, resize_first: bool) -> tuple:
    app = RaytopApp(title="layout")
    async with app.run_test(size=(80, 30)) as pilot:
        if resize_first:
            await pilot.resize_terminal(80, 24)
        await _post(pilot, frames)
        if not resize_first:
            await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: app.screen.size.height == 24)
        table = app.screen.query_one(OperatorsTable)
        cells = [[str(cell) for cell in table.cells(key)] for key in table.keys]
        return cells, [col.width for col in table.columns]


@sync
async def test_table_does_not_depend_on_when_the_layout_settles():
    frames = _frames([0, 25])
    before = await _table_after(frames, resize_first=True)
    after = await _table_after(frames, resize_first=False)
    assert before == after
    assert len(before[0]) == 4 and before[0][1][0].startswith("▶ MapBatches")
