"""`stalled` on a real pipeline: `raytop run --headless --stall-after 15` over a script whose actor
pool asks for a GPU the cluster lacks. The test waits for raytop's own critical line (the status
printer gives a new critical finding a line of its own), then ends the script as a user would,
with Ctrl-C (raytop forwards it), and reads the report raytop wrote from the recording."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from raytop.recording import RecordingReader
from raytop.report.json_report import load_schema

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "stalled_pipeline.py"
# script -> the rule it plants (tests/demos/test_misconfigured_demos.py counts it as planted)
PLANTED = {"tests/scripts/stalled_pipeline.py": "stalled"}
WAIT_S = 240.0  # for the finding: a loaded 2-core machine takes up to a minute to start Ray
END_S = 90.0  # for the script to end after Ctrl-C
STALL_AFTER = 15  # at 5, a read slowed by a loaded machine was the first "stall"

pytestmark = pytest.mark.ray


def _lines(stream, out: queue.Queue[str | None]) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def _wait_for(lines: queue.Queue[str | None], needle: str, seen: list) -> bool:
    deadline = time.monotonic() + WAIT_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            return False
        if line is None:
            return False
        seen.append(line)
        if needle in line:
            return True


def test_a_stalled_pipeline_names_its_pending_actor(tmp_path):
    rec, report = tmp_path / "stall.raytop", tmp_path / "stall.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "raytop", "run", "--headless", "--interval", "0.5",
         "--stall-after", str(STALL_AFTER), "--record", str(rec), "--report", str(report), str(SCRIPT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=dict(os.environ, RAY_ADDRESS="local"))
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
    seen: list = []
    try:
        found = _wait_for(lines, "CRITICAL stalled", seen)
        assert found, "".join(seen)[-3000:]
        proc.send_signal(signal.SIGINT)  # Ctrl-C: raytop passes it to the script
        try:
            code = proc.wait(timeout=END_S)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)  # a second one ends the script's process group
            code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    line = next(x for x in seen if "CRITICAL stalled" in x)
    assert "MapBatches(Model)" in line and "num_gpus=0" in line, line
    assert code != 0  # the script ended by the interrupt

    with RecordingReader(rec) as reader:
        assert reader.meta.get("stall_after") == STALL_AFTER
    doc = json.loads(report.read_text())
    jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)
    stalls = [s for s in doc["suggestions"] if s["rule"] == "stalled"]
    assert stalls, [s["rule"] for s in doc["suggestions"]]
    s = stalls[0]
    assert (s["severity"], s["operator"]) == ("critical", "MapBatches(Model)")
    assert "1 actor pending and none running" in s["evidence"], s["evidence"]
    assert "num_gpus=1" in s["evidence"] and "finished: ReadRange" in s["evidence"]
    f = s["figures"]
    assert f["waiting_on"] == "actors-pending" and f["actors_pending"] == 1
    assert (f["gpus_asked"], f["cluster_gpus"], f["stall_after_s"]) == (1.0, 0.0, STALL_AFTER)
    assert f["stalled_s"] >= STALL_AFTER
    assert "add GPU nodes" in s["fix"]
