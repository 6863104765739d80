"""Reports are private like the recordings they come from: created 0600 whatever the umask."""

from __future__ import annotations

import os
import stat

import pytest

from raytop.report import write_report


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("name", ["r.html", "r.json", "r.md"])
def test_reports_are_created_0600(workdir, open_umask, name):
    out = write_report(workdir / "before.raytop", workdir / name, None)
    assert mode(out) == 0o600


def test_markdown_charts_are_private_too(workdir, open_umask):
    write_report(workdir / "before.raytop", workdir / "r.md", None)
    pngs = list((workdir / "r_files").glob("*.png"))
    if not pngs:
        pytest.skip("no chart renderer here")
    assert {mode(p) for p in pngs} == {0o600}
    assert mode(workdir / "r_files") == 0o700


def test_forced_rewrite_makes_an_old_report_private(workdir, open_umask):
    out = workdir / "r.md"
    write_report(workdir / "before.raytop", out, None)
    os.chmod(out, 0o644)
    png = next((workdir / "r_files").glob("*.png"), None)
    if png is not None:
        os.chmod(png, 0o644)
    write_report(workdir / "before.raytop", out, None, force=True)
    assert mode(out) == 0o600
    assert png is None or mode(png) == 0o600
