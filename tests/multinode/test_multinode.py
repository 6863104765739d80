"""raytop on a real three-raylet cluster on this machine (issue 9).

The cluster (``ray start --head`` + two ``ray start --address`` raylets, each with 1 CPU; the
workers carry the custom resources ``w1`` and ``w2``) is started and stopped by the module fixture.
A pipeline pins one actor-pool operator to each worker node; ``raytop record`` must see every node
with its own object store and worker heap, and leave no sampler actor behind.

raytop reads raylets on its own machine from /proc; ``RAYTOP_LOCAL_NODES`` (the head only) makes it
treat the two workers as other machines, read through their dashboard agents, as on a real cluster.
``RAYTOP_THROUGH_DRIVER=1`` takes the driver path, where sampler actors read the other nodes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .ray_nodes import RayNodes, make_root, remove_root

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux")


@pytest.fixture(scope="module")
def nodes():
    root = make_root()
    cluster = RayNodes(root)
    try:
        cluster.start([{"w1": 1}, {"w2": 1}])
        yield cluster
    finally:
        cluster.stop()
        remove_root(root)


def _node_resources(cluster: RayNodes) -> dict:
    """node id -> its custom resource name ("head", "w1", "w2")."""
    r = cluster.python(
        "import json, ray\n"
        f"ray.init(address='{cluster.address}', logging_level='ERROR', log_to_driver=False)\n"
        "out = {}\n"
        "for n in ray.nodes():\n"
        "    res = n['Resources']\n"
        "    out[n['NodeID']] = next((k for k in ('w1', 'w2') if k in res), 'head')\n"
        "print(json.dumps(out))\n")
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _samplers_alive(cluster: RayNodes) -> list:
    r = cluster.python(
        "import json, ray\n"
        f"ray.init(address='{cluster.address}', logging_level='ERROR', log_to_driver=False)\n"
        "from raytop.sources.sampler import leftover_samplers\n"
        "print(json.dumps(leftover_samplers()))\n")
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _wait_until(pred, timeout: float, what: str, step: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def _raytop(cluster: RayNodes, *args: str, **env_vars: str) -> subprocess.Popen:
    env = cluster.env()
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_vars)
    return subprocess.Popen([sys.executable, "-m", "raytop", *args], cwd=str(ROOT), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _snapshots(path: Path) -> list:
    from raytop.recording import RecordingReader

    reader = RecordingReader(path)
    try:
        return list(reader.iter_snapshots())
    finally:
        reader.close()


def _head(roles: dict) -> str:
    return next(node for node, role in roles.items() if role == "head")


def test_record_sees_every_node_with_store_and_heap(nodes, tmp_path):
    roles = _node_resources(nodes)
    assert sorted(roles.values()) == ["head", "w1", "w2"]
    marker = tmp_path / "pipeline-running"
    pipeline = subprocess.Popen([sys.executable, str(HERE / "spread_pipeline.py"), nodes.address,
                                 str(marker)], env=nodes.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    out = tmp_path / "multi.raytop"
    try:
        _wait_until(lambda: marker.exists() or pipeline.poll() is not None, 120,
                    "the pipeline's actors to process batches")
        assert pipeline.poll() is None, pipeline.stderr.read()[-2000:]
        rec = _raytop(nodes, "record", "--address", nodes.address, "--duration", "20",
                      "--interval", "1", "-o", str(out), RAYTOP_LOCAL_NODES=_head(roles))
        _, err = rec.communicate(timeout=150)
        assert rec.returncode == 0, err[-2000:]
    finally:
        pipeline.terminate()
        pipeline.wait(timeout=30)

    snaps = _snapshots(out)
    assert len(snaps) >= 10
    late = snaps[len(snaps) // 2:]  # the agents have answered by then
    for snap in late:
        assert snap.sources.get("nodes") == "ok", snap.sources
        alive = [n for n in snap.nodes if n.alive]
        assert sorted(n.node_id for n in alive) == sorted(roles), "every node, once each"
        for n in alive:
            assert n.object_store.used_bytes is not None, n
            assert n.object_store.capacity_bytes == 100 * 1024 * 1024, n
            assert n.heap_bytes is not None and n.num_workers is not None, n

    def heap_of(role: str, op: str) -> int:
        return max(n.heap_by_operator.get(op, 0) for s in late for n in s.nodes
                   if roles[n.node_id] == role)

    # Each stage's ~40 MB actor is seen on its own node, and only there.
    assert heap_of("w1", "MapBatches(StageA)") > 40 * 1024 * 1024
    assert heap_of("w2", "MapBatches(StageB)") > 40 * 1024 * 1024
    assert heap_of("w1", "MapBatches(StageB)") == 0
    assert heap_of("w2", "MapBatches(StageA)") == 0
    assert not any(n.heap_by_operator.get(f"MapBatches({s})") for s in ("StageA", "StageB")
                   for snap in late for n in snap.nodes if roles[n.node_id] == "head")
    # The agents answered: no sampler actor was needed.
    assert _samplers_alive(nodes) == []


def test_sampler_actors_die_when_raytop_is_killed(nodes, tmp_path):
    rec = _raytop(nodes, "record", "--address", nodes.address, "-o", str(tmp_path / "k.raytop"),
                  RAYTOP_THROUGH_DRIVER="1")
    try:
        names = _wait_until(lambda: _samplers_alive(nodes), 90, "sampler actors to start", 2.0)
        assert len(names) == 2  # one per node other than the bridge's own
        assert all(ns == "_raytop" and name.startswith("raytop-sampler-") for ns, name in names)
    finally:
        rec.send_signal(signal.SIGKILL)  # no cleanup in raytop: the bridge must die with it
        rec.wait(timeout=30)
    assert _wait_until(lambda: _samplers_alive(nodes) == [], 60, "sampler actors to go") is True


def test_no_agents_starts_no_actor_and_says_so(nodes, tmp_path):
    out = tmp_path / "na.raytop"
    rec = _raytop(nodes, "record", "--address", nodes.address, "--duration", "6", "--no-agents",
                  "-o", str(out), RAYTOP_THROUGH_DRIVER="1")
    seen_actors = []
    while rec.poll() is None:
        seen_actors.extend(_samplers_alive(nodes))
        time.sleep(1)
    assert rec.returncode == 0, rec.stderr.read()[-2000:]
    assert seen_actors == []
    snaps = _snapshots(out)
    last = snaps[-1]
    assert last.sources["samplers"].startswith("absent: off (--no-agents)")
    assert len([n for n in last.nodes if n.alive]) == 3
    assert all(n.object_store.used_bytes is not None for n in last.nodes)
    # Only the bridge's own node has heap figures without agents.
    assert sum(1 for n in last.nodes if n.heap_bytes is not None) == 1
