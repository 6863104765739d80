"""The collector and the merge, on fake sources (pure: no Ray)."""

from __future__ import annotations

import threading
import time

from raytop.collector import Collector
from raytop.merge import merge_parts
from raytop.model import DatasetStats, Event, GpuProcess, GpuStats, NodeStats, ObjectStore, OperatorStats
from raytop.sources.base import NodeOverlay, Part, SourceAbsent


class FakeSource:
    def __init__(self, name, fn):
        self.name = name
        self.fn = fn
        self.closed = False

    def read(self):
        return self.fn()

    def close(self):
        self.closed = True


class Sink:
    def __init__(self):
        self.snaps, self.events = [], []

    def snapshot(self, s):
        self.snaps.append(s)

    def event(self, e):
        self.events.append(e)


def test_merge_overlays_attribute_heap_and_gpu_to_operators():
    nodes = (NodeStats("n1", ip="10.0.0.1", is_head=True,
                       object_store=ObjectStore(used_bytes=10, capacity_bytes=100, spilled_bytes=0)),
             NodeStats("n2", ip="10.0.0.2"))
    ops = (OperatorStats("ReadRange->MapBatches(f)", compute="task"),
           OperatorStats("MapBatches(Model)", compute="actor"),
           OperatorStats("Input", compute="other"))
    parts = [
        Part(nodes=nodes),
        Part(overlays=(NodeOverlay(ip="10.0.0.2", heap_bytes=300, num_workers=2,
                                   heap_by_operator={"MapBatches(Model)": 200}),)),
        Part(overlays=(NodeOverlay(node_id="n1", heap_bytes=100,
                                   heap_by_operator={"MapBatches(Model)": 50},
                                   gpus=(GpuStats(0, mem_used_bytes=7, processes=(
                                       GpuProcess(11, 7, "MapBatches(Model)"),)),)),)),
        Part(datasets=(DatasetStats("ds", state="RUNNING", operators=ops, source="probe"),),
             address="127.0.0.1:6379"),
    ]
    snap = merge_parts(5.0, parts, {"probe": "ok"})
    by_id = {n.node_id: n for n in snap.nodes}
    assert by_id["n2"].heap_bytes == 300 and by_id["n1"].heap_bytes == 100
    assert by_id["n1"].gpus[0].mem_used_bytes == 7
    op = {o.name: o for o in snap.datasets[0].operators}
    assert op["MapBatches(Model)"].heap_bytes == 250
    assert op["MapBatches(Model)"].gpu_mem_bytes == 7
    assert op["ReadRange->MapBatches(f)"].heap_bytes == 0  # read: no live worker holds heap
    assert op["ReadRange->MapBatches(f)"].gpu_mem_bytes is None  # no GPU process: unknown stays null
    assert op["Input"].heap_bytes is None
    assert snap.address == "127.0.0.1:6379"


def test_merge_without_heap_readings_leaves_null():
    parts = [Part(datasets=(DatasetStats("ds", operators=(OperatorStats("A", compute="task"),)),))]
    snap = merge_parts(1.0, parts, {})
    assert snap.datasets[0].operators[0].heap_bytes is None


def test_probe_dataset_wins_over_stats():
    probe = Part(datasets=(DatasetStats("d1", state="RUNNING", rows_out=10, source="probe"),))
    stats = Part(datasets=(DatasetStats("d1", state="RUNNING", rows_out=5, source="stats"),
                           DatasetStats("d0", state="FINISHED", source="stats")))
    snap = merge_parts(1.0, [stats, probe], {})
    assert {d.dataset_id: d.rows_out for d in snap.datasets}["d1"] == 10
    assert len(snap.datasets) == 2


def test_overlay_without_cluster_creates_local_node():
    snap = merge_parts(1.0, [Part(overlays=(NodeOverlay(ip="1.2.3.4", heap_bytes=5),))], {})
    assert snap.nodes[0].ip == "1.2.3.4" and snap.nodes[0].heap_bytes == 5


def test_collector_marks_absent_stale_and_slow_sources_without_stalling():
    release = threading.Event()

    def slow():
        release.wait(5)
        return Part(address="slow")

    def broken():
        raise ValueError("boom")

    def gone():
        raise SourceAbsent("no driver")

    good_calls = []

    def good():
        good_calls.append(1)
        return Part(datasets=(DatasetStats("d", rows_out=len(good_calls)),),
                    events=((Event(t=1.0, kind="dataset_started", dataset_id="d"),)
                            if len(good_calls) == 1 else ()))

    sources = [FakeSource("slow", slow), FakeSource("broken", broken), FakeSource("gone", gone),
               FakeSource("good", good)]
    col = Collector(sources, interval=0.2)
    sink = Sink()
    col.add_sink(sink)
    s1 = col.tick()
    assert s1.sources["good"] == "ok"
    assert s1.sources["slow"].startswith("stale:")
    assert s1.sources["broken"] == "stale: ValueError: boom"
    assert s1.sources["gone"] == "absent: no driver"
    s2 = col.tick()
    assert s2.datasets[0].rows_out == 2  # the good source kept going while "slow" hung
    release.set()
    time.sleep(0.05)
    s3 = col.tick()
    assert s3.sources["slow"] == "ok" and s3.address == "slow"
    assert [e.kind for e in sink.events].count("dataset_started") == 1
    assert len(sink.snaps) == 3
    col.stop()
    assert all(s.closed for s in sources)


def test_collector_thread_ticks_and_a_failing_sink_does_not_stop_it():
    class BadSink:
        def snapshot(self, s):
            raise RuntimeError("sink broke")

        def event(self, e):
            raise RuntimeError("sink broke")

    col = Collector([FakeSource("good", lambda: Part())], interval=0.05)
    sink = Sink()
    col.add_sink(BadSink())
    col.add_sink(sink)
    col.start()
    deadline = time.time() + 10
    while len(sink.snaps) < 3 and time.time() < deadline:
        time.sleep(0.02)
    col.stop()
    assert len(sink.snaps) >= 3
    assert sink.snaps[-1].t >= sink.snaps[0].t


def test_dataset_events_from_two_sources_are_recorded_once():
    ev = Event(t=1.0, kind="dataset_finished", dataset_id="d1", message="done")
    col = Collector([FakeSource("probe", lambda: Part(events=(ev,))),
                     FakeSource("stats", lambda: Part(events=(ev,)))], interval=0.1)
    sink = Sink()
    col.add_sink(sink)
    col.tick()
    col.tick()
    assert [e.kind for e in sink.events] == ["dataset_finished"]


def test_a_source_that_comes_back_leaves_a_gap_event():
    state = {"up": True}

    def flaky():
        if not state["up"]:
            raise RuntimeError("disconnected")
        return Part()

    clock = {"t": 100.0}
    col = Collector([FakeSource("cluster", flaky)], interval=0.1, clock=lambda: clock["t"])
    sink = Sink()
    col.add_sink(sink)
    col.tick()
    state["up"] = False
    col.tick()
    clock["t"] += 0.5  # one slow read: no gap
    state["up"] = True
    col.tick()
    state["up"] = False
    col.tick()
    clock["t"] += 5.0  # the cluster was away for 5 s
    state["up"] = True
    col.tick()
    assert [e.kind for e in sink.events].count("source_error") == 2
    gaps = [e for e in sink.events if e.kind == "gap" and e.data.get("source") == "cluster"]
    assert len(gaps) == 1  # the 0.5 s blip left none
    assert gaps[0].data["to"] - gaps[0].data["from"] == 5.0
