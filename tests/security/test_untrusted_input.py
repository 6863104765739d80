"""What reaches raytop from outside — datagrams on its channel, other users' names and errors,
metrics pages, a hung Ray call in the bridge — never breaks it, never drives the terminal, and
never costs the failing job more than a moment (security audit, docs/reliability.md)."""

from __future__ import annotations

import http.server
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from raytop import probe as probe_mod
from raytop.channel import Sender
from raytop.commands.status_line import status_line
from raytop.model import DatasetStats, Snapshot, clean_text, from_dict
from raytop.sources import metrics as metrics_mod
from raytop.sources.base import SourceAbsent
from raytop.sources.probe_source import ProbeSource

ESC = "\x1b"
HOSTILE = f"ds{ESC}]52;c;aGk={ESC}\\{ESC}[2J\x9b31m"


@pytest.fixture
def chan_dir():
    parent = Path(tempfile.mkdtemp(prefix="rtu"))
    yield parent / "ch"
    shutil.rmtree(parent, ignore_errors=True)


def _report(dataset: dict, **header) -> bytes:
    msg = {"v": 1, "kind": "step", "t": time.time(), "pid": os.getpid(), "dataset": dataset}
    msg.update(header)
    return json.dumps(msg).encode()


# ---- escape sequences -------------------------------------------------------------------------

def test_control_characters_are_shown_not_obeyed():
    assert clean_text(HOSTILE) == "ds\\x1b]52;c;aGk=\\x1b\\\\x1b[2J\\x9b31m"
    assert clean_text("tabs\tand\nnewlines stay") == "tabs\tand\nnewlines stay"
    ds = from_dict(DatasetStats, {"dataset_id": HOSTILE, "error": f"boom{ESC}[31m",
                                  "operators": [{"name": f"Map{ESC}[2J"}]})
    line = status_line(Snapshot(t=0.0, datasets=(ds,)))
    assert ESC not in line and "\x9b" not in line


def test_a_hostile_dataset_name_from_a_probe_reaches_no_status_line(chan_dir):
    src, snd = ProbeSource(directory=chan_dir), Sender(chan_dir)
    try:
        snd.send(_report({"dataset_id": HOSTILE, "state": "RUNNING",
                          "operators": [{"name": f"op{ESC}[2J"}]}))
        part = src.read()
        line = status_line(Snapshot(t=time.time(), datasets=part.datasets))
        assert ESC not in line and "\x9b" not in line
    finally:
        src.close()


# ---- datagrams of the wrong shape ---------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    {"pid": None}, {"pid": "123"}, {"pid": True}, {"pid": -4}, {"kind": "nonsense"},
    {"dataset": {"dataset_id": None, "operators": []}},
    {"dataset": {"dataset_id": "d", "state": 7, "operators": []}},
    {"dataset": {"dataset_id": "d", "operators": [{"name": None}]}},
    {"dataset": {"dataset_id": "d", "operators": "not a list"}},
    {"dataset": ["not", "a", "dict"]},
])
def test_datagrams_of_the_wrong_shape_are_dropped(chan_dir, bad):
    src, snd = ProbeSource(directory=chan_dir), Sender(chan_dir)
    try:
        good = {"dataset_id": "ok", "state": "RUNNING", "operators": [{"name": "A"}]}
        msg = {"v": 1, "kind": "step", "t": time.time(), "pid": os.getpid(), "dataset": good}
        msg.update(bad)
        snd.send(json.dumps(msg).encode())
        with pytest.raises(SourceAbsent):
            src.read()  # nothing of it was kept
        snd.send(_report(good))
        (ds,) = src.read().datasets
        assert ds.dataset_id == "ok" and ds.driver_pid == os.getpid()
        assert status_line(Snapshot(t=time.time(), datasets=(ds,)))
    finally:
        src.close()


def test_channel_fuzz_never_breaks_the_source(chan_dir):
    """A seeded loop of random, truncated and mutated datagrams: the source never raises
    anything but SourceAbsent, and keeps only well-formed datasets."""
    rng = random.Random(1234)
    src, snd = ProbeSource(directory=chan_dir), Sender(chan_dir)
    template = _report({"dataset_id": "d", "state": "RUNNING",
                        "operators": [{"name": "A", "rows_out": 5, "actors": {"running": 1}}]})
    try:
        for i in range(600):
            kind = i % 4
            if kind == 0:
                payload = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))
            elif kind == 1:
                payload = template[:rng.randrange(len(template))]
            elif kind == 2:
                data = bytearray(template)
                for _ in range(rng.randrange(1, 6)):
                    data[rng.randrange(len(data))] = rng.getrandbits(8)
                payload = bytes(data)
            else:
                obj = json.loads(template)
                obj["dataset"]["operators"][0][rng.choice(["rows_out", "name", "actors"])] = \
                    rng.choice([None, [], {}, "x", -1, 1e308, True])
                payload = json.dumps(obj).encode()
            snd.send(payload)
            if i % 50 == 49:
                try:
                    part = src.read()
                except SourceAbsent:
                    continue
                for ds in part.datasets:
                    assert isinstance(ds.dataset_id, str)
                    assert all(isinstance(op.name, str) for op in ds.operators)
    finally:
        src.close()


# ---- the failing job's error message ------------------------------------------------------------

@pytest.mark.timeout(20)  # the old quadratic redaction took 28 s for 32 KB on the job's thread
@pytest.mark.parametrize("blob", ["a" * 1_000_000, "a." * 500_000, "x=" * 400_000,
                                  "Error" * 200_000, "https://" + "u" * 600_000])
def test_a_huge_error_message_is_described_at_once(blob):
    out = probe_mod.describe_error(ValueError(blob + " password=hunter2"))
    assert len(out) <= probe_mod.MAX_ERROR_CHARS and "hunter2" not in out


# ---- another user holds the channel directory --------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory another uid owns")
def test_a_taken_channel_directory_falls_back_to_a_private_one(tmp_path, monkeypatch):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    taken = runtime / "raytop"
    taken.mkdir(mode=0o755)
    os.chown(taken, 65534, 65534)  # created first by someone else
    monkeypatch.delenv("RAYTOP_CHANNEL_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    src = ProbeSource()
    try:
        assert src.socket_path.parent != taken
        assert "owned by uid 65534" in src.fallback_note
        assert str(src.socket_path.parent) in src.fallback_note
        snd = Sender(src.socket_path.parent)
        snd.send(_report({"dataset_id": "d", "state": "RUNNING", "operators": []}))
        assert [d.dataset_id for d in src.read().datasets] == ["d"]
    finally:
        src.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_a_channel_for_another_users_probe_lets_only_that_user_in(chan_dir):
    """`sudo raytop attach --inject` into a user's driver: the probe, running as that user, can
    send to the channel raytop made for it; the directory is that user's and private."""
    src = ProbeSource(directory=chan_dir)
    try:
        theirs = src.channel_for(65534)
        st = os.stat(theirs)
        assert st.st_uid == 65534 and st.st_mode & 0o077 == 0
        child = os.fork()
        if child == 0:
            try:
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
                sent = Sender(theirs).send(_report(
                    {"dataset_id": "theirs", "state": "RUNNING", "operators": []}))
            finally:
                os._exit(0 if sent == 1 else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert [d.dataset_id for d in src.read().datasets] == ["theirs"]
    finally:
        src.close()
    assert not theirs.exists()  # removed with the source


# ---- metrics pages -------------------------------------------------------------------------------

class _Page(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def page_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_metrics_go_around_the_proxy_and_stop_at_the_cap(page_server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    _Page.body = b'ray_node_mem_used{a="b"} 5\n'
    host, port = page_server.server_address
    assert "ray_node_mem_used" in metrics_mod.fetch_metrics_text(host, port)
    monkeypatch.setattr(metrics_mod, "MAX_PAGE_BYTES", 1000)
    _Page.body = b"x" * 5000
    with pytest.raises(OSError, match="larger than 1000 bytes"):
        metrics_mod.fetch_metrics_text(host, port)


# ---- a Ray call that never returns, in the bridge -----------------------------------------------

class _Conn:
    """The bridge's end of its pipe, fed from a list; what it sends is collected."""

    def __init__(self, requests):
        self.requests, self.sent = list(requests), []

    def recv(self):
        if not self.requests:
            raise EOFError
        return self.requests.pop(0)

    def send(self, obj):
        self.sent.append(obj)


def test_a_hung_read_in_the_bridge_is_not_piled_up():
    from raytop.sources.bridge import _serve

    release = threading.Event()

    class Hung:
        def read(self):
            release.wait(30)
            return "late"

    conn = _Conn([(i, "stats") for i in range(20)])
    before = threading.active_count()
    _serve(conn, {"stats": Hung()})
    assert threading.active_count() - before <= 1  # one read thread, not twenty
    errors = [m for m in conn.sent if m[1] == "error"]
    assert len(errors) == 19 and "has not returned yet" in errors[0][2]
    release.set()


def test_bridge_answers_unknown_and_failing_sources():
    from raytop.sources.bridge import _serve

    class Broken:
        def read(self):
            raise RuntimeError("boom")

    conn = _Conn([(1, "nope"), (2, "broken")])
    _serve(conn, {"broken": Broken()})
    deadline = time.monotonic() + 10
    while len(conn.sent) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the reads run on their own threads
    assert sorted(conn.sent) == [(1, "absent", "unknown source nope"),
                                 (2, "error", "RuntimeError: boom")]


def test_cli_outputs_no_escape_from_a_hostile_recording(tmp_path):
    """`raytop export` of a recording with hostile names prints them escaped."""
    from raytop.recording import RecordingWriter

    out = tmp_path / "h.raytop"
    with RecordingWriter(out, meta={"command": ["raytop"]}) as writer:
        writer.snapshot(Snapshot(t=1.0, datasets=(DatasetStats(dataset_id=HOSTILE),)))
    res = subprocess.run([sys.executable, "-m", "raytop", "export", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert ESC not in res.stdout and "\x9b" not in res.stdout
