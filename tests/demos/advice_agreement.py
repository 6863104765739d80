"""Live, replay and report give the same suggestions for the same snapshots: the check shared by
tests/demos/test_same_advice.py (committed recordings) and the demo tests (fresh recordings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence

from raytop.analysis import report_data
from raytop.analysis.advisor import advise, suggestion_to_dict
from raytop.model import Snapshot
from raytop.tui.feeds import REPLAY_HISTORY
from raytop.tui.frame import FrameBuilder

Key = tuple[str, str, str]


def key_of(s) -> Key:
    return (s.rule, s.dataset_id or "", s.op_id or s.operator or "")


def live_frames(snaps: Sequence[Snapshot]) -> list[tuple]:
    """What the TUI shows, frame by frame, fed one snapshot at a time (live, or replay playing)."""
    builder = FrameBuilder()
    return [builder.frame(s).suggestions for s in snaps]


def replay_jump(snaps: Sequence[Snapshot], index: int) -> tuple:
    """What the replay shows after jumping to ``index`` (feeds.ReplayWorker._emit)."""
    builder = FrameBuilder()
    first = max(0, index - REPLAY_HISTORY + 1)
    builder.reset(snaps[first:index])
    return builder.frame(snaps[index]).suggestions


def assert_agree(snaps: Sequence[Snapshot]) -> None:
    """Every suggestion the live view showed is in the report, and nothing else is; the report's
    list is advise()'s; a replay jump shows what the live view showed at that point."""
    snaps = sorted(snaps, key=lambda s: s.t)
    frames = live_frames(snaps)
    shown: dict[Key, None] = {}
    for sugs in frames:
        for s in sugs:
            shown.setdefault(key_of(s), None)
    reported = advise(snaps)
    assert set(shown) == {key_of(s) for s in reported}
    assert report_data(snaps)["suggestions"] == [suggestion_to_dict(s) for s in reported]
    for i in sorted({len(snaps) // 3, len(snaps) // 2, len(snaps) - 1}):
        assert [key_of(s) for s in replay_jump(snaps, i)] == [key_of(s) for s in frames[i]]


def advice_json(path: str, seed: str) -> str:
    """advise() of a recording in a fresh interpreter with PYTHONHASHSEED=``seed``."""
    code = ("import json, sys; from raytop.recording import RecordingReader; "
            "from raytop.analysis.advisor import advise, suggestion_to_dict; "
            "r = RecordingReader(sys.argv[1]); snaps = list(r.iter_snapshots()); r.close(); "
            "print(json.dumps([suggestion_to_dict(s) for s in advise(snaps)], sort_keys=True))")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         check=True, env=dict(os.environ, PYTHONHASHSEED=seed), timeout=300)
    return out.stdout


def assert_same_every_run(path: str) -> None:
    runs = {advice_json(path, seed) for seed in ("1", "2")}
    assert len(runs) == 1 and json.loads(next(iter(runs))) is not None
