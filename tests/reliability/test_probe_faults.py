"""Fault family 6: the probe's receiving end fails or hangs. The probe inside the job must neither
raise nor block: the pipeline finishes with the same rows in about the same time.

"Hang" is a raytop that stopped reading (its socket buffer fills up); "fail" is a listener socket
whose raytop died without removing it, and a stray non-socket file in the channel directory. A
``send`` that raises is covered in tests/sources/test_probe.py.
"""

from __future__ import annotations

import socket
import time

import pytest

from raytop import probe as probe_mod
from raytop.channel import Sender, ensure_dir

pytestmark = pytest.mark.ray


def _run(ray):
    def slow(batch):  # nested: pickled by value, workers cannot import this test module
        import time as t

        t.sleep(0.02)
        return batch

    start = time.monotonic()
    rows = sorted(int(r["id"]) for r in
                  ray.data.range(600, override_num_blocks=30).map_batches(slow).take_all())
    return rows, time.monotonic() - start


class _Registered:
    def __enter__(self):
        from ray.data import DataContext

        self.ctx = DataContext.get_current()
        self.saved = list(self.ctx.custom_execution_callback_classes)
        self.ctx.custom_execution_callback_classes = self.saved + [probe_mod.RaytopProbe]

    def __exit__(self, *exc):
        self.ctx.custom_execution_callback_classes = self.saved


@pytest.fixture
def bad_channel(tmp_path):
    chan = ensure_dir(tmp_path / "chan")
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # bound, never read: a stopped raytop
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hung.bind(str(chan / "listen-1-hung.sock"))
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # its raytop died: ECONNREFUSED
    dead.bind(str(chan / "listen-2-dead.sock"))
    dead.close()
    (chan / "listen-3-file.sock").write_text("not a socket")
    yield chan, hung
    hung.close()


def test_failing_and_hung_listeners_do_not_disturb_the_job(ray_cluster, bad_channel, monkeypatch):
    chan, hung = bad_channel
    rows_plain, t_plain = _run(ray_cluster)
    monkeypatch.setenv("RAYTOP_INTERVAL", "0")  # report on every scheduling step
    probe_mod.set_sender(Sender(chan))
    try:
        with _Registered():
            rows_probe, t_probe = _run(ray_cluster)
    finally:
        probe_mod.set_sender(None)
    assert rows_probe == rows_plain == list(range(600))
    hung.setblocking(False)
    queued = 0
    while True:
        try:
            hung.recv(1 << 20)
            queued += 1
        except BlockingIOError:
            break
    assert queued >= 1  # the probe did report, into the listener that never read
    assert t_probe < 2 * t_plain + 10, (t_plain, t_probe)  # within noise, never blocked
