"""write_report: format and output resolution, refusals with one clear line."""

from __future__ import annotations

import json

import pytest

from raytop.errors import BadInput
from raytop.recording import RecordingError
from raytop.report import write_report


def test_default_output_next_to_recording_is_html(workdir):
    out = write_report(workdir / "before.raytop", None, None)
    assert out == workdir / "before.html"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("name,expected", [("r.json", "{"), ("r.HTM", "<!DOCTYPE"), ("r.markdown", "# ")])
def test_format_follows_extension(workdir, name, expected):
    out = write_report(workdir / "before.raytop", workdir / name, None)
    assert out.read_text(encoding="utf-8").startswith(expected)


def test_format_option_without_output(workdir):
    out = write_report(workdir / "before.raytop", None, "md")
    assert out == workdir / "before.md" and (workdir / "before_files" / "gpu_util.png").is_file()


@pytest.mark.parametrize("out,fmt,match", [
    ("r.txt", None, "cannot tell the report format"),
    ("r.html", "pdf", "unknown report format 'pdf'"),
    ("r.html", "json", "contradicts"),
    ("missing-dir/r.html", None, "does not exist"),
    ("before.raytop", "html", "overwrite the recording"),
])
def test_bad_options_are_one_line_errors(workdir, out, fmt, match):
    with pytest.raises(BadInput, match=match) as e:
        write_report(workdir / "before.raytop", workdir / out, fmt)
    assert "\n" not in str(e.value)


def test_existing_output_needs_force(workdir):
    out = workdir / "r.json"
    out.write_text("keep me")
    with pytest.raises(BadInput, match="--force"):
        write_report(workdir / "before.raytop", out, None)
    assert out.read_text() == "keep me"
    write_report(workdir / "before.raytop", out, None, force=True)
    assert json.loads(out.read_text())["schema"] == 1


def test_markdown_image_folder_needs_force(workdir):
    (workdir / "n_files").mkdir()
    (workdir / "n_files" / "old.png").write_bytes(b"x")
    with pytest.raises(BadInput, match="n_files"):
        write_report(workdir / "before.raytop", workdir / "n.md", None)


@pytest.mark.parametrize("make", ["missing", "garbage", "empty", "directory"])
def test_bad_recordings_raise_recording_error(workdir, make):
    bad = workdir / "bad.raytop"
    if make == "garbage":
        bad.write_bytes(b"this is not sqlite" * 100)
    elif make == "empty":
        bad.write_bytes(b"")
    elif make == "directory":
        bad.mkdir()
    with pytest.raises(RecordingError):
        write_report(bad, workdir / "r.html", None)
    assert not (workdir / "r.html").exists()
    with pytest.raises(RecordingError):
        write_report(workdir / "before.raytop", workdir / "r.html", None, baseline=bad)
    assert not (workdir / "r.html").exists()


def test_truncated_recording(workdir):
    data = (workdir / "before.raytop").read_bytes()
    (workdir / "cut.raytop").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError):
        write_report(workdir / "cut.raytop", workdir / "r.html", None)


def test_recording_without_snapshots(workdir):
    from raytop.recording import RecordingWriter

    RecordingWriter(workdir / "none.raytop", meta={"command": ["x"]}).close(exit_code=1)
    with pytest.raises(RecordingError, match="no snapshots"):
        write_report(workdir / "none.raytop", workdir / "r.html", None)


def test_single_snapshot_recording(workdir, make_snapshot):
    from raytop.recording import RecordingWriter

    w = RecordingWriter(workdir / "one.raytop", meta={"command": ["x"]})
    w.snapshot(make_snapshot(5.0, pre_rows=None, model_rows=None, util=None, spilled=None))
    w.close()
    out = write_report(workdir / "one.raytop", workdir / "one.json", None)
    s = json.loads(out.read_text())["summary"]
    assert s["snapshots"] == 1 and s["duration_s"] == 0 and s["rows_per_s"] is None
    assert write_report(workdir / "one.raytop", workdir / "one.html", None).stat().st_size > 0
