"""Bad input to any command: one clear line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


def raytop(*args, cwd=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "raytop", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.raytop").write_bytes(b"")
    (d / "garbage.raytop").write_bytes(b"this is not sqlite at all" * 100)
    (d / "somedir").mkdir()
    (d / "script.py").write_text("print('hi')\n")
    (d / "exists.raytop").write_bytes(b"x")
    _recordings(d)
    return d


def _recordings(d):
    """good.raytop; truncated.raytop (its first half); newer.raytop (schema from the future)."""
    import sqlite3

    from raytop.model import Snapshot
    from raytop.recording import RecordingWriter

    with RecordingWriter(d / "good.raytop", meta={"command": ["raytop"], "interval": 1.0}) as w:
        for i in range(50):
            w.snapshot(Snapshot(t=1_700_000_000.0 + i, sources={"probe": "ok", "note": "x" * 300 + str(i)}))
    data = (d / "good.raytop").read_bytes()
    (d / "truncated.raytop").write_bytes(data[: len(data) // 2])
    (d / "newer.raytop").write_bytes(data)
    con = sqlite3.connect(d / "newer.raytop")
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    (d / "report.md").write_text("an earlier report")
    (d / "out.jsonl").write_text("an earlier export")


CASES = {
    "run-missing-script": ("run", "--headless", "no_such_script.py"),
    "run-interval-zero": ("run", "--interval", "0", "script.py"),
    "run-interval-text": ("run", "--interval", "fast", "script.py"),
    "run-record-and-no-record": ("run", "--no-record", "--record", "x.raytop", "script.py"),
    "run-existing-recording": ("run", "--headless", "--record", "exists.raytop", "script.py"),
    "run-directory-script": ("run", "somedir"),
    "replay-missing": ("replay", "nope.raytop"),
    "replay-directory": ("replay", "somedir"),
    "replay-empty": ("replay", "empty.raytop"),
    "replay-garbage": ("replay", "garbage.raytop"),
    "export-missing": ("export", "nope.raytop"),
    "export-garbage": ("export", "garbage.raytop", "--format", "jsonl"),
    "export-bad-format": ("export", "garbage.raytop", "--format", "csv"),
    "report-missing": ("report", "nope.raytop"),
    "report-bad-format": ("report", "empty.raytop", "--format", "pdf"),
    "record-no-output": ("record", "--duration", "1"),
    "record-bad-duration": ("record", "--duration", "-3", "-o", "x.raytop"),
    "record-malformed-address": ("record", "--address", "not an address", "-o", "x.raytop"),
    "record-client-address": ("record", "--address", "ray://head:10001", "-o", "x.raytop"),
    "attach-bad-port": ("attach", "--address", "localhost:99999"),
    "replay-truncated": ("replay", "truncated.raytop"),
    "replay-newer-schema": ("replay", "newer.raytop"),
    "report-truncated": ("report", "truncated.raytop", "-o", "t.md"),
    "report-newer-schema": ("report", "newer.raytop", "-o", "n.md"),
    "report-directory": ("report", "somedir"),
    "report-existing-output": ("report", "good.raytop", "-o", "report.md"),
    "export-truncated": ("export", "truncated.raytop"),
    "export-newer-schema": ("export", "newer.raytop"),
    "export-directory": ("export", "somedir"),
    "export-existing-output": ("export", "good.raytop", "-o", "out.jsonl"),
    "run-interval-nan": ("run", "--headless", "--interval", "nan", "script.py"),
    "run-stall-after-zero": ("run", "--headless", "--stall-after", "0", "script.py"),
    "run-stall-after-nan": ("run", "--headless", "--stall-after", "nan", "script.py"),
    "record-stall-after-text": ("record", "--stall-after", "soon", "-o", "x.raytop"),
    "attach-stall-after-negative": ("attach", "--stall-after", "-5"),
    "run-interval-huge": ("run", "--headless", "--interval", "1e9", "script.py"),
    "run-report-bad-extension": ("run", "--headless", "--no-record", "--report", "r.pdf", "script.py"),
    "record-duration-nan": ("record", "--duration", "nan", "-o", "x.raytop"),
    "record-existing-output": ("record", "--duration", "1", "-o", "exists.raytop"),
    "record-output-is-directory": ("record", "--duration", "1", "-o", "somedir"),
    "attach-unreachable": ("attach", "--address", "127.0.0.1:1"),
    "attach-malformed-address": ("attach", "--address", "http://head:6379"),
    "attach-existing-recording": ("attach", "--record", "exists.raytop"),
    "unknown-command": ("frobnicate",),
    "unknown-option": ("replay", "--nope", "x"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_exit_2(name, files):
    res = raytop(*CASES[name], cwd=files)
    assert res.returncode == 2, (res.returncode, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("raytop: ")


def test_nothing_is_overwritten_without_force(files):
    before = {n: (files / n).read_bytes() for n in ("exists.raytop", "report.md", "out.jsonl")}
    for args in (("run", "--headless", "--record", "exists.raytop", "script.py"),
                 ("record", "--duration", "1", "-o", "exists.raytop"),
                 ("report", "good.raytop", "-o", "report.md"),
                 ("export", "good.raytop", "-o", "out.jsonl")):
        res = raytop(*args, cwd=files)
        assert res.returncode == 2 and "overwrite" in res.stderr, (args, res.stderr)
    assert {n: (files / n).read_bytes() for n in before} == before
    res = raytop("export", "good.raytop", "-o", "out.jsonl", "--force", cwd=files)
    assert res.returncode == 0, res.stderr
    assert len((files / "out.jsonl").read_text().splitlines()) == 50  # --force does overwrite


def test_unreachable_address_is_one_line(files):
    # Nothing listens on this port: the bridge's ray.init fails fast with a clear line.
    res = raytop("record", "--address", "127.0.0.1:1", "--duration", "1", "-o", "u.raytop",
                 cwd=files, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (files / "u.raytop").exists()


def test_stall_after_goes_into_the_recording_meta():
    from raytop.commands.common import recording_meta

    assert recording_meta(["raytop", "record"], 1.0, None, 5.0)["stall_after"] == 5.0
    assert "stall_after" not in recording_meta(["raytop", "record"], 1.0, None)
    for command in ("run", "attach", "record"):
        assert "--stall-after SECONDS" in raytop(command, "--help").stdout


def test_help_and_version():
    assert raytop("--help").returncode == 0
    res = raytop("--version")
    assert res.returncode == 0 and "raytop" in res.stdout


def test_a_bug_is_not_reported_as_bad_input(monkeypatch, capsys):
    """Only RaytopError is the user's input; anything else raised inside a command is a bug
    and must surface as one (a traceback), never as 'raytop: ...' with exit code 2."""
    from raytop import cli
    from raytop.commands import export

    def broken(*args, **kwargs):
        raise ValueError("a bug in raytop")

    monkeypatch.setattr(export, "export_to", broken)
    with pytest.raises(ValueError, match="a bug in raytop"):
        cli.main(["export", "whatever.raytop"])
    assert "raytop: a bug" not in capsys.readouterr().err
