"""Fault family 8: security. The Ray token never reaches a recording, report, log or message;
secret-looking arguments and variables are redacted; the probe's channel is private; raytop opens
no listening TCP port; attaching changes nothing in the job."""

from __future__ import annotations

import json
import subprocess

import pytest

from raytop.model import to_dict
from raytop.recording import RecordingReader
from tests.reliability.conftest import SECRET_ARG, SECRET_ENV
from tests.reliability.helpers import RAYTOP, clean_env

pytestmark = pytest.mark.ray


def _everything_raytop_wrote(run) -> dict:
    """Every text raytop produced for this run: its output, the recording (raw and decoded),
    the report, and a markdown report and JSONL export made from the recording afterwards."""
    rec = run["rec"]
    # In --headless mode the script writes to the same terminal (its own traceback quotes the
    # token it was given: that is the user's output); raytop's own lines start with "raytop".
    texts = {"raytop's stderr lines": "\n".join(ln for ln in run["err"].splitlines()
                                                if ln.startswith("raytop"))}
    for path in run["tmp"].iterdir():
        if path.is_file():
            texts[f"file:{path.name}"] = path.read_bytes().decode("latin-1")
    reader = RecordingReader(rec)
    texts["meta"] = json.dumps(reader.meta)
    texts["events"] = json.dumps([to_dict(e) for e in reader.events()])
    texts["snapshots"] = json.dumps([to_dict(s) for s in reader.iter_snapshots()])
    reader.close()
    md = run["tmp"] / "again.md"
    for args in (["report", str(rec), "-o", str(md)], ["export", str(rec), "--format", "jsonl"]):
        res = subprocess.run(RAYTOP + args, capture_output=True, text=True, timeout=120, env=clean_env())
        assert res.returncode == 0, res.stderr
        texts[" ".join(args[:1])] = res.stdout + res.stderr
    texts["report md"] = md.read_text()
    return texts


def test_token_and_secrets_appear_nowhere(failing_run):
    assert failing_run["report"].is_file(), failing_run["err"][-2000:]
    texts = _everything_raytop_wrote(failing_run)
    assert any("planted failure" in t for t in texts.values())  # the error did get through
    for secret in (failing_run["token"], SECRET_ARG, SECRET_ENV):
        leaks = [name for name, text in texts.items() if secret in text]
        assert not leaks, f"a secret leaked into {leaks}"


def test_command_line_is_recorded_with_secrets_masked(failing_run):
    reader = RecordingReader(failing_run["rec"])
    command = reader.meta["command"]
    reader.close()
    assert "--api-token" in command and "--password" in command
    assert command[command.index("--api-token") + 1] == "***"
    assert command[command.index("--password") + 1] == "***"
    assert "env" not in reader.meta or SECRET_ENV not in json.dumps(reader.meta["env"])


def test_channel_directory_0700_and_socket_0600(failing_run):
    seen = [s for s in failing_run["samples"] if s["sockets"]]
    assert seen, "raytop's probe socket was never seen"
    assert all(s["dir_mode"] == 0o700 for s in seen)
    for s in seen:
        for is_sock, mode in s["sockets"].values():
            assert is_sock and mode == 0o600


def test_no_listening_tcp_port_during_a_run(failing_run):
    samples = failing_run["samples"]
    assert len(samples) >= 10
    assert all(s["raytop_listen"] == [] for s in samples)
    # `raytop run` reads the cluster in its own process: no bridge. Where one starts (a source
    # that needs a driver), it is a Ray driver whose only port is its core worker's, Ray's own
    # (test_attach_opens_only_rays_driver_port); raytop adds none.
    bridges = [b for s in samples for b in s["bridges"].values()]
    assert all(len(listen) <= 1 for listen in bridges)


def test_attach_opens_only_rays_driver_port(attached_kill):
    """raytop itself listens nowhere; its bridge's only listening socket is the core-worker port
    that Ray opened for it as a driver, as the GCS's job table shows."""
    listen = attached_kill["listen"]
    assert listen["raytop"] == []
    assert listen["bridge"], "no bridge process was found"
    for pid, sockets in listen["bridge"].items():
        assert pid in attached_kill["drivers"], "the bridge is not a registered Ray driver"
        assert {port for _, port in sockets} <= {attached_kill["drivers"][pid]}


def test_attach_changes_nothing_in_the_job(attached_kill):
    code, out, _ = attached_kill["with"]
    assert code == 0
    lines = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
    alone = dict(ln.split("=", 1) for ln in attached_kill["alone"].stdout.splitlines() if "=" in ln)
    assert lines["context"] == alone["context"]
    assert lines["callbacks"] == alone["callbacks"] == "[]"
    assert lines["actors"] == alone["actors"]
