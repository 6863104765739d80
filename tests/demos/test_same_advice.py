"""The same recording always gives the same suggestions: live (the TUI fed snapshot by
snapshot), replay (after a jump) and the report agree, in any interpreter (hash seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytop.recording import RecordingReader
from tests.demos.advice_agreement import assert_agree, assert_same_every_run

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = sorted((ROOT / "tests" / "data").glob("*.raytop")) + sorted((ROOT / "examples").glob("*.raytop"))


def _snaps(path: Path):
    with RecordingReader(path) as r:
        return list(r.iter_snapshots())


def test_there_are_recordings_to_compare():
    assert len(RECORDINGS) >= 6


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_live_replay_and_report_agree(path):
    assert_agree(_snaps(path))


def test_same_suggestions_in_any_interpreter():
    assert_same_every_run(str(ROOT / "tests" / "data" / "cpu_pipeline.raytop"))
