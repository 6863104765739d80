"""Fault family 4: the cluster goes away during `raytop record` and comes back. raytop keeps
recording, shows the cluster's sources as stale/disconnected with the retry delay, records the
source errors, reconnects to the new cluster and exits cleanly."""

from __future__ import annotations

import signal

import pytest

from raytop.recording import RecordingReader
from tests.reliability.helpers import (
    bridge_children,
    listening_inet,
    snapshots_now,
    start_raytop,
    stop,
    wait_until,
)

pytestmark = pytest.mark.ray

OUTAGE_SNAPSHOTS = 6


def _disconnected(rec):
    return [s for s in snapshots_now(rec) if s.sources.get("cluster", "ok") != "ok"]


def _long_enough(snaps):
    return snaps if len(snaps) >= OUTAGE_SNAPSHOTS else None


@pytest.fixture(scope="module")
def outage(holder, tmp_path_factory):
    if not holder.up:
        holder.start()
    tmp = tmp_path_factory.mktemp("outage")
    rec = tmp / "outage.raytop"
    proc = start_raytop(["record", "--address", holder.address, "--interval", "0.5", "-o", str(rec)],
                        cwd=tmp)
    try:
        wait_until(lambda: [s for s in snapshots_now(rec) if s.sources.get("cluster") == "ok"]
                   or proc.poll() is not None, 120, what="a connected snapshot")
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        import psutil

        footprint = {"bridges": bridge_children(proc.pid),
                     "listen": listening_inet(psutil.Process(proc.pid))}
        holder.kill()  # the cluster goes away, abruptly
        # the outage lasts until raytop has recorded OUTAGE_SNAPSHOTS of it (a restart can take
        # under a second: what the test checks must not hang on how fast Ray comes back)
        down = wait_until(lambda: _long_enough(_disconnected(rec)), 120,
                          what=f"{OUTAGE_SNAPSHOTS} disconnected snapshots")
        n_down = len(snapshots_now(rec))
        holder.start()  # the same address again
        wait_until(lambda: [s for s in snapshots_now(rec)[n_down:] if s.sources.get("cluster") == "ok"]
                   or proc.poll() is not None, 240, what="a reconnected snapshot")
        alive_after = proc.poll() is None
    finally:
        out, err = stop(proc, signal.SIGINT, timeout=60)
    reader = RecordingReader(rec)
    snaps, events, meta = list(reader.iter_snapshots()), reader.events(), reader.meta
    reader.close()
    return {"proc": proc, "err": err, "snaps": snaps, "events": events, "meta": meta,
            "alive_after": alive_after, "first_down": down[0], "address": holder.address,
            "footprint": footprint}


def test_in_process_reads_start_no_bridge_and_listen_nowhere(outage):
    assert outage["footprint"] == {"bridges": [], "listen": []}


def test_no_crash_and_clean_exit(outage):
    assert outage["alive_after"]
    assert outage["proc"].returncode == 0, outage["err"][-2000:]
    assert "Traceback" not in outage["err"]
    assert outage["meta"].get("ended_utc")


def test_disconnected_state_is_visible(outage):
    statuses = [s.sources.get("cluster", "") for s in outage["snaps"]]
    first_bad = next(i for i, st in enumerate(statuses) if st != "ok")
    last_bad = max(i for i, st in enumerate(statuses) if st != "ok")
    assert "ok" in statuses[:first_bad] and "ok" in statuses[last_bad:]  # ok → stale → ok
    assert all(st.startswith("stale: ") for st in statuses[first_bad:last_bad + 1])
    assert any("disconnected" in st for st in statuses)
    # snapshots kept coming through the outage (the collector never stalled)
    timeline = [(round(s.t, 2), st[:60]) for s, st in zip(outage["snaps"], statuses, strict=True)]
    around = outage["snaps"][max(first_bad - 1, 0):last_bad + 2]
    gaps = [b.t - a.t for a, b in zip(around, around[1:], strict=False)]
    assert max(gaps) < 5, timeline
    assert last_bad - first_bad + 1 >= OUTAGE_SNAPSHOTS, timeline


def test_reconnects_with_backoff(outage):
    retries = [s.sources["cluster"] for s in outage["snaps"] if "retrying in" in s.sources.get("cluster", "")]
    assert retries, "no retry delay was shown"


def test_outage_is_in_the_events(outage):
    errors = [e for e in outage["events"] if e.kind == "source_error" and e.data.get("source") == "cluster"]
    assert errors and errors[0].t >= outage["first_down"].t - 1
    gaps = [e for e in outage["events"] if e.kind == "gap" and e.data.get("source") == "cluster"]
    assert gaps, "the reconnection must leave a gap event covering the outage"
    assert gaps[0].data["from"] <= outage["first_down"].t + 1 and gaps[0].data["to"] > gaps[0].data["from"]
    assert any(s.address for s in outage["snaps"][-3:])
