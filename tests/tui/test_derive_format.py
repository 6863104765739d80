"""Pure logic behind the screens: formatting, rates, bottleneck, sparklines, frames."""

from __future__ import annotations

import pytest

from raytop.format import NA, bar, fmt_bytes, fmt_count, fmt_duration, parse_duration, sparkline
from raytop.model import ActorCounts, DatasetStats, OperatorStats, Snapshot
from raytop.tui import derive
from raytop.tui.frame import FrameBuilder


def test_missing_values_never_render_as_zero():
    assert fmt_bytes(None) == NA and fmt_count(None) == NA and fmt_duration(None) == NA
    assert fmt_bytes(0) == "0B"
    assert bar(None, 4) == "····"


def test_units():
    assert fmt_bytes(1536) == "1.5K"
    assert fmt_bytes(3 * 1024 ** 3) == "3.0G"
    assert fmt_count(12_345) == "12.3k"
    assert fmt_duration(3725) == "1:02:05"
    assert fmt_duration(59) == "0:59"


@pytest.mark.parametrize("text,seconds", [("90", 90), ("1:30", 90), ("1:02:03", 3723),
                                          ("2m", 120), ("15s", 15)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "abc", "1:2:3:4", "-5"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_bar_and_sparkline():
    assert bar(0.5, 4) == "██░░"
    assert bar(1.0, 3) == "███"
    line = sparkline([0, None, 50, 100], 6, lo=0, hi=100)
    assert line == "  ▁ ▅█"


def _snap(t, rows, q=0, bp=(), idle=0):
    ops = (
        OperatorStats(name="Read", rows_out=rows, input_queue_blocks=0, state="RUNNING"),
        OperatorStats(name="Model", rows_out=rows // 2, input_queue_blocks=q, backpressure=bp,
                      actors=ActorCounts(running=2, pending=0, idle=idle), state="RUNNING"),
    )
    ds = DatasetStats("ds", state="RUNNING", rows_out=rows // 2, operators=ops, rows_total=1000,
                      start_time=0.0)
    return Snapshot(t=t, datasets=(ds,))


def test_rates_and_eta():
    hist = [_snap(0, 0), _snap(1, 100), _snap(2, 200)]
    assert derive.op_rate(hist, "ds", "Read") == pytest.approx(100.0)
    assert derive.dataset_rate(hist, "ds") == pytest.approx(50.0)
    ds = hist[-1].dataset("ds")
    assert derive.eta_s(ds, 50.0) == pytest.approx((1000 - 100) / 50)
    assert derive.op_rate(hist[:1], "ds", "Read") is None  # one point: no rate


def test_rate_unknown_when_counter_missing():
    hist = [_snap(0, 0), Snapshot(t=1, datasets=(DatasetStats("ds", operators=(
        OperatorStats(name="Read", rows_out=None),)),))]
    assert derive.op_rate(hist, "ds", "Read") is None


def test_bottleneck_is_the_op_with_waiting_input_not_held_by_downstream():
    b = derive.bottleneck(_snap(0, 0, q=7).dataset("ds"))
    assert b is not None and b.operator == "Model" and "7 blocks" in b.why
    assert "every actor busy" in b.why
    # held by output backpressure: its downstream is the slow one, not it
    assert derive.bottleneck(_snap(0, 0, q=7, bp=("outputs:DownstreamCapacity",)).dataset("ds")) is None
    assert derive.bottleneck(_snap(0, 0, q=0).dataset("ds")) is None


def test_pick_dataset_prefers_choice_then_running():
    a = DatasetStats("a", state="FINISHED", start_time=5)
    b = DatasetStats("b", state="RUNNING", start_time=1)
    snap = Snapshot(t=0, datasets=(a, b))
    assert derive.pick_dataset(snap, None).dataset_id == "b"
    assert derive.pick_dataset(snap, "a").dataset_id == "a"
    assert derive.pick_dataset(snap, "gone").dataset_id == "b"


def test_frame_builder_bounds_history():
    builder = FrameBuilder(history_len=3)
    frame = None
    for i in range(5):
        frame = builder.frame(_snap(i, i * 10))
    assert frame is not None and [s.t for s in frame.history] == [2, 3, 4]
    assert frame.snapshot.t == 4


def test_view_bottleneck_is_the_advisors():
    """The overview marks the operator the advisor reasons about (one shared rule), computed off
    the UI thread by the frame builder over the advisor's window."""
    from raytop.analysis.bottleneck import find_bottleneck
    from raytop.recording import RecordingReader
    from raytop.tui.frame import BOTTLENECK_WINDOW, FrameBuilder
    from tests.tui.helpers import CPU_REC, ensure_fixtures

    ensure_fixtures()
    with RecordingReader(CPU_REC) as rec:
        snaps = list(rec.iter_snapshots())
    builder = FrameBuilder()
    frame = None
    for s in snaps[:26]:
        frame = builder.frame(s)
    ds = derive.pick_dataset(frame.snapshot, None)
    expected = find_bottleneck(snaps[26 - BOTTLENECK_WINDOW:26], ds.dataset_id)
    assert expected == "MapBatches(Model)_2"  # the op id; the name is for display
    assert frame.bottlenecks[ds.dataset_id] == expected
    b = derive.bottleneck(ds, frame)
    assert b is not None and b.key == expected and b.operator == "MapBatches(Model)"
    assert "waiting at its input" in b.why
