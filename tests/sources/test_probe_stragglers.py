"""A real pipeline with one deliberately slow block: the probe reports the task with the node it
runs on, and the stragglers rule names both. One pipeline (about 15 s on 2 CPUs)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from raytop import probe as probe_mod
from raytop.analysis.advisor import Advisor
from raytop.channel import Sender
from raytop.model import NodeStats, Snapshot
from raytop.sources.base import SourceAbsent
from raytop.sources.probe_source import ProbeSource

BLOCKS = 30
ROWS_PER_BLOCK = 10
SLOW_BLOCK = 2
SLOW_S = 12.0


def _pickle_udfs_by_value():
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


_pickle_udfs_by_value()


def _work(batch):
    # one block sleeps far longer than the 0.1 s the others take: a straggler
    slow = int(batch["id"][0]) == SLOW_BLOCK * ROWS_PER_BLOCK
    time.sleep(SLOW_S if slow else 0.1)
    return batch


def _watch(ray, source, stop, out):
    node = NodeStats(node_id=ray.get_runtime_context().get_node_id(),
                     ip=ray.util.get_node_ip_address(), num_cpus=2.0)
    advisor = Advisor()
    while not stop.is_set():
        try:
            part = source.read()
        except SourceAbsent:
            part = None
        if part is not None and part.datasets:
            snap = Snapshot(t=time.time(), nodes=(node,), datasets=part.datasets)
            out["snaps"].append(snap)
            out["found"].extend(advisor.update(snap))
        time.sleep(0.25)


def _finished(source, timeout_s=10.0):
    """The dataset as the probe's final report has it (that report is sent before the
    iteration returns; reading it may take a poll or two)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            datasets = source.read().datasets
        except SourceAbsent:
            datasets = ()
        done = [d for d in datasets if d.state == "FINISHED"]
        if done:
            return done[0]
        time.sleep(0.05)
    raise AssertionError("no final report")


def test_a_slow_block_is_a_straggler_with_its_node(ray_cluster):
    ray = ray_cluster
    parent = Path(tempfile.mkdtemp(prefix="rts"))
    source = ProbeSource(pids=[os.getpid()], directory=parent / "ch")
    probe_mod.set_sender(Sender(parent / "ch"))
    saved = {k: os.environ.get(k) for k in ("RAY_DATA_EXECUTION_CALLBACKS", "RAYTOP_INTERVAL")}
    os.environ["RAY_DATA_EXECUTION_CALLBACKS"] = "raytop.probe.RaytopProbe"
    os.environ["RAYTOP_INTERVAL"] = "0.25"
    out: dict = {"snaps": [], "found": []}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(ray, source, stop, out), daemon=True)
    watcher.start()
    try:
        ds = ray.data.range(BLOCKS * ROWS_PER_BLOCK, override_num_blocks=BLOCKS).map_batches(_work)
        rows = sum(len(b["id"]) for b in ds.iter_batches(batch_size=None))
        stop.set()
        watcher.join(10)  # one reader of the source at a time
        final = _finished(source)
    finally:
        stop.set()
        watcher.join(10)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        probe_mod.set_sender(None)
        source.close()
        shutil.rmtree(parent, ignore_errors=True)
    assert rows == BLOCKS * ROWS_PER_BLOCK
    node_id = ray.get_runtime_context().get_node_id()
    stragglers = [s for s in out["found"] if s.rule == "stragglers"]
    assert stragglers, [s.rule for s in out["found"]]
    s = stragglers[-1]
    assert s.operator == "ReadRange->MapBatches(_work)" and s.severity == "warning"
    assert s.figures["nodes"] == [node_id]
    assert f"on node {ray.util.get_node_ip_address()}, pid " in s.evidence
    assert s.figures["task_indexes"] == [SLOW_BLOCK]  # the slow block's task, no other
    assert s.figures["slow_tasks"] == 1 and s.figures["running_s"][0] >= 5.0
    # the final report: the slow task is in the histogram's top bucket, nothing runs any more
    last = final.operators[1].tails
    assert last.task_s.count == BLOCKS and last.task_s.p99 >= 10.0 and last.task_s.p50 < 1.0
    assert last.slow_tasks == ()
