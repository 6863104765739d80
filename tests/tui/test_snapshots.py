"""Screenshots (pytest-textual-snapshot) of the overview, operator detail, plan, help and node screens
at 80x24 and 160x48, over the committed CPU recording at t=25 s (the model is the bottleneck).

Each is taken once the frame at t=25 s is the app's and the screen asked for is mounted; the
plugin then lets the app handle what is pending. No settling time, no rerun: a screenshot that
differs is a change.

Update after an intended visual change: pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest

from tests.tui.helpers import GPU_REC, replay_app, wait_for, wait_index

# 80x24 is checked by region assertions (tests/tui/test_overview_layout.py), not by an image: at
# that size the panels' sizes follow the frame a refresh later, and the picture came out one of
# two ways run to run.
SIZES = [(160, 48)]
SCREENS = {
    "overview": [],
    "detail": ["j", "enter"],
    "plan": ["l"],
    "help": ["question_mark"],
    "nodes": ["n"],
}


def _at(index: int, keys: list[str]):
    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_index(pilot, app, 0)
        await pilot.press("g", *str(index), "enter")
        await wait_index(pilot, app, index)
        if keys:
            screens = len(app.screen_stack)
            await pilot.press(*keys)
            await wait_for(pilot, lambda: len(app.screen_stack) > screens and app.screen.is_mounted)
        # The overview sizes its panels to the frame it shows after a refresh: let the messages
        # that frame posted (layout, then paint) all be handled before the screenshot.
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screens(snap_compare, screen, size):
    assert snap_compare(replay_app(), terminal_size=size, run_before=_at(25, SCREENS[screen]))


def test_gpu_overview(snap_compare):
    assert snap_compare(replay_app(GPU_REC), terminal_size=(120, 36), run_before=_at(25, []))
