"""A failure's finding leads the headless status line and the TUI's advice."""

from __future__ import annotations

import io

from raytop.commands.status_line import StatusPrinter, status_line
from tests.analysis import scenarios as sc


def test_status_printer_prints_the_failure_with_its_fix_once_and_leads_the_line():
    out = io.StringIO()
    printer = StatusPrinter(stream=out, every_s=0.0)
    for snap in sc.failed_with(sc.CUDA_OOM, batch_size=5515, n_failed=3):
        printer.snapshot(snap)
    lines = out.getvalue().splitlines()
    critical = [ln for ln in lines if ln.startswith("raytop | CRITICAL gpu-memory-risk")]
    told = [ln for ln in critical if "| ds_1 " not in ln]  # its own line, apart from the status
    assert len(told) == 1, lines[-6:]
    assert sc.MODEL in told[0] and "batch_size=4029" in told[0]
    # every status line after the failure starts with it
    after = lines[lines.index(told[0]) + 1:]
    assert len(after) == 3 and all(ln.startswith("raytop | CRITICAL gpu-memory-risk") and
                                   "ds_1 FAILED" in ln for ln in after)


def test_status_line_without_a_critical_finding_is_unchanged():
    snap = sc.healthy(3)[-1]
    assert status_line(snap) == status_line(snap, lead=None)
    assert not status_line(snap).startswith("raytop | CRITICAL")
