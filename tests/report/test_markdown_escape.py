"""Names and errors from a recording cannot inject HTML, links, images or control characters into
the Markdown report."""

from __future__ import annotations

import re

import pytest

from raytop.model import DatasetStats, OperatorStats, Snapshot
from raytop.recording import RecordingWriter
from raytop.report import write_report
from raytop.report.markdown import _cell, _code, _text

EVIL = ("<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) "
        "![pixel](https://evil.example/p.png) `tick` **bold** _it_ \\ \x1b[31mred\x1b[0m \x9b2J "
        "a|b\nsecond line &lt;")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def assert_inert(md: str) -> None:
    assert "<script" not in md and "<img" not in md
    assert "](javascript:" not in md and "![pixel]" not in md and "[click]" not in md
    assert "**bold**" not in md and "`tick`" not in md
    assert not CONTROL.search(md)


@pytest.mark.parametrize("escape", [_text, _cell])
def test_inline_text_is_inert(escape):
    out = escape(EVIL)
    assert_inert(out)
    assert "\n" not in out
    assert "&lt;script&gt;" in out and "&amp;lt;" in out
    assert "\\[click\\]\\(javascript:alert\\(3\\)\\)" in out


def test_cells_escape_the_pipe():
    assert _cell("a|b") == "a\\|b"


def test_plain_text_stays_readable():
    assert _text("MapBatches model 12.5 rows/s, 3 tasks") == "MapBatches model 12.5 rows/s, 3 tasks"


def test_text_at_the_start_of_a_block_starts_no_heading_or_list():
    for start in ("# title", "- item", "+ item", "> quote", "1. item", "= x"):
        out = _text(start, block=True)
        assert not re.match(r"[#>+=-]|\d+[.)]", out), out
        assert out.replace("\\", "").replace("&gt;", ">") == start


def test_code_spans_cannot_be_closed_early():
    out = _code("a ``` b` \x1b[2J")
    fence = re.match(r"`+", out).group(0)
    assert len(fence) == 4 and out.endswith(fence) and out.count(fence) == 2
    assert "\x1b" not in out


def test_markdown_report_of_a_hostile_recording(tmp_path):
    path = tmp_path / "evil.raytop"
    op = OperatorStats(name=EVIL, physical_class="TaskPoolMapOperator", compute="task",
                       rows_out=10)
    with RecordingWriter(path, meta={"command": ["python", EVIL], "interval": 1.0}) as w:
        for i in range(3):
            ds = DatasetStats(dataset_id=EVIL, state="FAILED" if i == 2 else "RUNNING",
                              rows_out=10 * i, operators=(op,), error=EVIL if i == 2 else None,
                              source="probe")
            w.snapshot(Snapshot(t=1000.0 + i, datasets=(ds,), sources={"probe": "ok"}))
    out = write_report(path, tmp_path / "evil.md", None)
    md = out.read_text()
    assert md.count("&lt;script&gt;") >= 3  # the name, the error and the command are all there
    assert_inert(md)
