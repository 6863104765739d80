"""The GPU recordings made on a real H100 (examples/, see docs/gpu.md) replay with the GPU panels
filled, so the GPU path of the TUI is exercised in CI without a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.helpers import replay_app, sync, text_of, wait_for, wait_index

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["gpu_starved.raytop", "gpu_two_gpus.raytop"])
@sync
async def test_real_gpu_recording_fills_the_gpu_panel(name):
    app = replay_app(EXAMPLES / name)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.frame.replay is not None)
        # a real recording starts before its dataset does: the replay opens where it runs
        assert app.frame.replay.index > 0
        assert any(ds.state == "RUNNING" for ds in app.frame.snapshot.datasets)
        await pilot.press("g", "3", "0", "enter")
        await wait_index(pilot, app, 30)
        gpu = text_of(app.screen.query_one("#gpu"))
        assert "GPU0" in gpu and "GPU1" in gpu
        assert "W" in gpu and "°C" in gpu  # power and temperature from NVML
        assert "MapBatches(Classifier)" in gpu  # the process on the GPU, attributed to its operator
        if name == "gpu_two_gpus.raytop":
            lines = [line for line in gpu.splitlines() if "MapBatches(Classifier)" in line]
            assert len(lines) == 2  # each GPU attributed to its actor
