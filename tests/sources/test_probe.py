"""The probe inside a real Ray Data pipeline, and the probe source that receives it."""

from __future__ import annotations

import json
import os
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
from raytop.model import to_dict
from raytop.sources.base import SourceAbsent
from raytop.sources.probe_source import KEEP_ENDED, ProbeSource

ROWS = 2000


def _pickle_udfs_by_value():
    # Ray workers cannot import this test module: ship its UDFs by value.
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


_pickle_udfs_by_value()


@pytest.fixture
def chan_dir():
    parent = Path(tempfile.mkdtemp(prefix="rtp"))
    yield parent / "ch"
    shutil.rmtree(parent, ignore_errors=True)


def _double(batch):
    batch["id"] = batch["id"] * 2
    return batch


class Model:
    def __call__(self, batch):
        time.sleep(0.05)  # long enough for the probe to see the actor busy
        return batch


def _pipeline(ray):
    return (ray.data.range(ROWS, override_num_blocks=20)
            .map_batches(_double)
            .map_batches(Model, compute=ray.data.ActorPoolStrategy(size=1), batch_size=100,
                         num_cpus=0.5))


def _boom(batch):
    raise ValueError("boom password=hunter2")


class _Registered:
    """Register the probe on the current DataContext for one block, then restore it."""

    def __init__(self, cls=probe_mod.RaytopProbe):
        self.cls = cls

    def __enter__(self):
        from ray.data import DataContext

        self.ctx = DataContext.get_current()
        if hasattr(self.ctx, "custom_execution_callback_classes"):
            self.saved = list(self.ctx.custom_execution_callback_classes)
            self.ctx.custom_execution_callback_classes = self.saved + [self.cls]
        else:  # Ray 2.54: instances in the context's config (copied into each dataset's context)
            self.saved = list(self.ctx.get_config(_CALLBACKS_KEY, []))
            self.ctx.set_config(_CALLBACKS_KEY, self.saved + [self.cls()])

    def __exit__(self, *exc):
        if hasattr(self.ctx, "custom_execution_callback_classes"):
            self.ctx.custom_execution_callback_classes = self.saved
        else:
            self.ctx.set_config(_CALLBACKS_KEY, self.saved)


_CALLBACKS_KEY = "execution_callbacks"  # Ray 2.54's EXECUTION_CALLBACKS_CONFIG_KEY


@pytest.fixture(scope="module")
def pipeline_run(ray_cluster):
    """Run the pipeline once with the probe loaded through the env var; collect every read."""
    ray = ray_cluster
    parent = Path(tempfile.mkdtemp(prefix="rtp"))
    directory = parent / "ch"
    saved_env = {k: os.environ.get(k) for k in ("RAY_DATA_EXECUTION_CALLBACKS", "RAYTOP_INTERVAL")}
    source = ProbeSource(pids=[os.getpid()], directory=directory)
    probe_mod.set_sender(Sender(directory))
    parts, events, stop = [], [], threading.Event()

    def poll():
        while not stop.is_set():
            try:
                part = source.read()
                parts.append(part)
                events.extend(part.events)
            except SourceAbsent:
                pass
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    os.environ["RAY_DATA_EXECUTION_CALLBACKS"] = "raytop.probe.RaytopProbe"
    os.environ["RAYTOP_INTERVAL"] = "0.1"
    poller.start()
    try:
        rows = _pipeline(ray).take_all()
        time.sleep(0.5)
    finally:
        stop.set()
        poller.join(10)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        probe_mod.set_sender(None)
    final = source.read()
    events.extend(final.events)
    parts.append(final)
    source.close()
    shutil.rmtree(parent, ignore_errors=True)
    yield {"rows": rows, "parts": parts, "events": events, "final": final,
           "address": ray.get_runtime_context().gcs_address}


def _dataset(part):
    assert len(part.datasets) == 1
    return part.datasets[0]


def test_operators_of_known_shape(pipeline_run):
    ds = _dataset(pipeline_run["final"])
    names = [op.name for op in ds.operators]
    assert names == ["Input", "ReadRange->MapBatches(_double)", "MapBatches(Model)"]
    read_map, model = ds.operators[1], ds.operators[2]
    assert read_map.logical == ("ReadRange", "MapBatches(_double)")
    assert read_map.compute == "task" and read_map.physical_class == "TaskPoolMapOperator"
    assert model.compute == "actor" and model.physical_class == "ActorPoolMapOperator"
    assert model.actors is not None and read_map.actors is None
    assert ds.operators[0].compute == "other"
    for op in ds.operators[1:]:
        for field in ("input_queue_blocks", "input_queue_bytes", "output_queue_blocks",
                      "output_queue_bytes", "internal_input_queue_blocks", "tasks_running",
                      "tasks_finished", "tasks_failed", "rows_out", "bytes_out", "blocks_out"):
            assert isinstance(getattr(op, field), int), (op.name, field)
        assert op.usage is not None and op.usage.cpu is not None
        assert op.tasks_failed == 0 and op.tasks_finished > 0
        assert op.avg_task_s is not None and op.avg_task_s > 0
    assert model.avg_block_rows is not None and model.avg_block_rows > 0


def test_rows_out_equals_rows_in_and_finished(pipeline_run):
    assert len(pipeline_run["rows"]) == ROWS
    ds = _dataset(pipeline_run["final"])
    assert ds.state == "FINISHED"
    assert ds.rows_out == ROWS
    assert ds.operators[-1].rows_out == ROWS
    assert ds.operators[1].rows_out == ROWS
    assert ds.source == "probe" and ds.job_id
    assert ds.start_time is not None and ds.end_time is not None and ds.end_time >= ds.start_time
    kinds = [e.kind for e in pipeline_run["events"]]
    assert kinds.count("dataset_started") == 1 and kinds.count("dataset_finished") == 1
    assert kinds.index("dataset_started") < kinds.index("dataset_finished")
    finished = next(e for e in pipeline_run["events"] if e.kind == "dataset_finished")
    assert finished.dataset_id == ds.dataset_id and str(ROWS) in finished.message


def test_live_steps_show_the_actor_at_work(pipeline_run):
    running = [d for p in pipeline_run["parts"] for d in p.datasets if d.state == "RUNNING"]
    assert len(running) >= 2  # several step reports arrived while the job ran
    busy = [d.operators[2].actors.running for d in running if d.operators[2].actors]
    assert busy and max(busy) >= 1
    assert any(d.operators[2].tasks_running for d in running)


def test_plan_captured(pipeline_run):
    ds = _dataset(pipeline_run["final"])
    plan = ds.plan
    assert plan is not None and plan.source == "probe" and plan.ray_version
    by_name = {op.name: op for op in plan.logical}
    read, double, model = by_name["ReadRange"], by_name["MapBatches(_double)"], by_name["MapBatches(Model)"]
    assert len({op.id for op in plan.logical}) == len(plan.logical) == 3
    assert double.inputs == (read.id,) and model.inputs == (double.id,)
    assert double.compute == "task" and double.batch_size is None and double.ray_remote_args == {}
    assert model.compute == "actor" and model.min_size == 1 and model.max_size == 1
    assert model.batch_size == 100 and model.ray_remote_args == {"num_cpus": 0.5}
    assert model.is_map and double.is_map and not model.has_remote_args_fn
    assert double.physical == read.physical == "ReadRange->MapBatches(_double)"
    assert model.physical == "MapBatches(Model)"
    physical = {p.name: p for p in plan.physical}
    assert physical["ReadRange->MapBatches(_double)"].logical == (read.id, double.id)
    assert physical["MapBatches(Model)"].inputs == ("ReadRange->MapBatches(_double)",)
    json.dumps(to_dict(plan))  # JSON-safe as sent
    assert probe_mod._as_dict(ds) == to_dict(ds)  # the probe's fast serializer matches the model's


def test_address_reported(pipeline_run):
    final = pipeline_run["final"]
    assert final.address and final.address == pipeline_run["address"]
    assert final.ray_version


def _square(batch):
    batch["id"] = batch["id"] ** 2
    return batch


def test_executions_sharing_a_context_at_once_are_reported_apart(ray_cluster, chan_dir,
                                                                   monkeypatch):
    """Datasets derived from one dataset share its DataContext. Before Ray 2.55 the context holds
    one probe instance for every execution of those datasets, even concurrent ones."""
    monkeypatch.setenv("RAY_DATA_EXECUTION_CALLBACKS", "raytop.probe.RaytopProbe")
    monkeypatch.setenv("RAYTOP_INTERVAL", "0.1")
    source = ProbeSource(pids=[os.getpid()], directory=chan_dir)
    probe_mod.set_sender(Sender(chan_dir))
    try:
        base = ray_cluster.data.range(ROWS, override_num_blocks=20)
        a, b = base.map_batches(_double), base.map_batches(_square)
        both = zip(a.iter_batches(batch_size=100), b.iter_batches(batch_size=100), strict=True)
        rows = 0
        for x, y in both:  # both executions run at once
            rows += len(x["id"]) + len(y["id"])
            source.read()  # drain the channel as raytop does
        final = source.read()
    finally:
        probe_mod.set_sender(None)
        source.close()
    assert rows == 2 * ROWS
    by_op = {d.operators[1].name: d for d in final.datasets if len(d.operators) == 2}
    assert set(by_op) == {"ReadRange->MapBatches(_double)", "ReadRange->MapBatches(_square)"}
    assert [(d.state, d.rows_out) for d in by_op.values()] == [("FINISHED", ROWS)] * 2
    assert len({d.dataset_id for d in final.datasets}) == len(final.datasets) == 2


def _slow(batch):
    time.sleep(0.1)
    return batch


def test_agent_joins_a_running_execution(ray_cluster, chan_dir):
    """What `raytop attach --inject` runs in the driver, in-process: the agent finds the running
    executor and adds a probe to the callbacks it calls on every step (Ray 2.54: its
    DataContext's list), which reports from then on."""
    from raytop.attach import agent as agent_mod

    source = ProbeSource(pids=[os.getpid()], directory=chan_dir)
    batches = iter(ray_cluster.data.range(ROWS, override_num_blocks=40).map_batches(_slow)
                   .iter_batches())
    agent = None
    try:
        rows = len(next(batches)["id"])  # the execution runs
        assert any(True for _ in agent_mod.live_executors())
        agent = agent_mod.Agent(chan_dir, "token")
        agent._register_with_executors()
        assert [p.injected for p in agent._probes] == [True]
        for batch in batches:
            rows += len(batch["id"])
            source.read()
        final = source.read()
    finally:
        if agent is not None:
            agent._go_quiet()
        probe_mod.set_sender(None)
        source.close()
    assert rows == ROWS
    ds = _dataset(final)
    assert ds.probe == "injected" and ds.state == "FINISHED" and ds.rows_out == ROWS
    assert ds.plan is not None and len(ds.plan.logical) == 2


def _rows(ray):
    return sorted(r["id"] for r in _pipeline(ray).take_all())


def test_failing_udf_reports_failure(ray_cluster, chan_dir):
    from ray.exceptions import RayError  # the UDF's ValueError arrives wrapped in Ray's error

    source = ProbeSource(pids=[os.getpid()], directory=chan_dir)
    probe_mod.set_sender(Sender(chan_dir))
    try:
        with _Registered():
            with pytest.raises(RayError):
                ray_cluster.data.range(100, override_num_blocks=2).map_batches(_boom).take_all()
        part = source.read()
    finally:
        probe_mod.set_sender(None)
        source.close()
    failed = [e for e in part.events if e.kind == "dataset_failed"]
    assert len(failed) == 1
    ds = part.datasets[-1]
    assert ds.state == "FAILED" and ds.dataset_id == failed[0].dataset_id
    assert "ValueError: boom" in ds.error and "ValueError: boom" in failed[0].message
    assert "hunter2" not in ds.error and "hunter2" not in json.dumps(to_dict(failed[0]))


class _ExplodingSender:
    def send(self, payload):
        raise RuntimeError("send path broken")


def test_broken_send_path_does_not_disturb_the_job(ray_cluster):
    expected = _rows(ray_cluster)
    probe_mod.set_sender(_ExplodingSender())
    try:
        with _Registered():
            assert _rows(ray_cluster) == expected
    finally:
        probe_mod.set_sender(None)


def test_unusable_socket_dir_does_not_disturb_the_job(ray_cluster, chan_dir, monkeypatch):
    expected = _rows(ray_cluster)
    chan_dir.parent.mkdir(exist_ok=True)
    chan_dir.write_text("a file where the directory should be")
    monkeypatch.setenv("RAYTOP_CHANNEL_DIR", str(chan_dir))
    monkeypatch.setenv("RAYTOP_INTERVAL", "0")
    probe_mod.set_sender(None)  # the default sender, reading the env var
    try:
        with _Registered():
            assert _rows(ray_cluster) == expected
    finally:
        probe_mod.set_sender(None)


# ---- the probe source on hand-made datagrams (no Ray) --------------------------------------

def _msg(kind, dataset_id="ds_1", state="RUNNING", pid=None, plan=None, rows=None, t=None):
    dataset = {"dataset_id": dataset_id, "state": state, "rows_out": rows, "operators": [
        {"name": "MapBatches(f)", "compute": "task", "rows_out": rows}]}
    if plan is not None:
        dataset["plan"] = plan
    return json.dumps({"v": 1, "kind": kind, "t": t or time.time(), "pid": pid or os.getpid(),
                       "address": "10.0.0.1:6379", "ray_version": "2.60.0", "job_id": "01000000",
                       "dataset": dataset}).encode()


PLAN = {"logical": [{"id": "0:MapBatches(f)", "name": "MapBatches(f)", "op_class": "MapBatches"}],
        "physical": [{"name": "MapBatches(f)", "logical": ["0:MapBatches(f)"]}]}


def _source(chan_dir, **kw):
    return ProbeSource(directory=chan_dir, **kw), Sender(chan_dir)


def test_source_absent_until_a_probe_reports(chan_dir):
    src, snd = _source(chan_dir)
    try:
        with pytest.raises(SourceAbsent, match="RAY_DATA_EXECUTION_CALLBACKS=raytop.probe.RaytopProbe"):
            src.read()
        assert src.address is None
        snd.send(_msg("started", plan=PLAN))
        part = src.read()
        assert part.address == src.address == "10.0.0.1:6379" and part.ray_version == "2.60.0"
        assert [e.kind for e in part.events] == ["dataset_started"]
        assert src.read().events == ()  # events are handed out once
    finally:
        src.close()


def test_source_keeps_plan_and_ignores_late_steps(chan_dir):
    src, snd = _source(chan_dir)
    try:
        snd.send(_msg("started", plan=PLAN))
        snd.send(_msg("step", rows=10))
        ds = src.read().datasets[0]
        assert ds.rows_out == 10 and ds.plan is not None and ds.plan.logical[0].id == "0:MapBatches(f)"
        snd.send(_msg("finished", state="FINISHED", rows=20))
        snd.send(_msg("step", rows=15))  # reordered/late: must not undo the end
        part = src.read()
        assert part.datasets[0].state == "FINISHED" and part.datasets[0].rows_out == 20
        assert [e.kind for e in part.events] == ["dataset_finished"]
    finally:
        src.close()


def test_source_filters_by_pid_and_dataset(chan_dir):
    src, snd = _source(chan_dir, pids=[os.getpid()], dataset_id="ds_keep")
    try:
        snd.send(_msg("started", dataset_id="ds_keep", pid=os.getppid()))  # other driver
        snd.send(_msg("started", dataset_id="ds_other"))  # other dataset
        with pytest.raises(SourceAbsent):
            src.read()
        snd.send(_msg("started", dataset_id="ds_keep"))
        assert [d.dataset_id for d in src.read().datasets] == ["ds_keep"]
        snd.send(b"not json")
        assert src.read().datasets  # garbage is ignored
    finally:
        src.close()


def test_source_keeps_only_the_last_ended_datasets(chan_dir):
    src, snd = _source(chan_dir)
    try:
        for i in range(KEEP_ENDED + 5):
            assert snd.send(_msg("finished", dataset_id=f"ds_{i}", state="FINISHED")) == 1
            if i % 5 == 4:
                src.read()  # the kernel queues only a few datagrams per socket
        snd.send(_msg("step", dataset_id="ds_live"))
        ids = [d.dataset_id for d in src.read().datasets]
        assert len(ids) == KEEP_ENDED + 1
        assert "ds_0" not in ids and f"ds_{KEEP_ENDED + 4}" in ids and "ds_live" in ids
    finally:
        src.close()


def test_dataset_of_a_dead_driver_becomes_failed(chan_dir):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    src, snd = _source(chan_dir)
    try:
        snd.send(_msg("step", pid=proc.pid))
        part = src.read()
        ds = part.datasets[0]
        assert ds.state == "FAILED" and str(proc.pid) in ds.error
        assert [e.kind for e in part.events] == ["dataset_failed"]
    finally:
        src.close()


def test_wait_for_address(chan_dir):
    src, snd = _source(chan_dir)
    try:
        assert src.wait_for_address(0.2) is None
        timer = threading.Timer(0.3, lambda: snd.send(_msg("started")))
        timer.start()
        assert src.wait_for_address(30) == "10.0.0.1:6379"
        timer.join()
        assert [e.kind for e in src.read().events] == ["dataset_started"]  # kept for read()
    finally:
        src.close()


def test_describe_error_keeps_the_root_cause_and_hides_secrets(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "tok_0123456789abcdef")
    err = RuntimeError("\x1b[36mray::Map()\x1b[39m (pid=1)\n  File x\nValueError: bad "
                       "https://user:pw@host/x api_key=AKIA123 tok_0123456789abcdef\n\nmore")
    text = probe_mod.describe_error(err)
    assert text.startswith("RuntimeError: ValueError: bad")
    for secret in ("pw@", "AKIA123", "tok_0123456789abcdef"):
        assert secret not in text
    assert "\n" not in text
    assert len(probe_mod.describe_error(ValueError("x" * 5000))) <= probe_mod.MAX_ERROR_CHARS


def test_a_copied_probe_starts_afresh_and_a_pickled_one_is_a_no_op():
    """Ray 2.54 keeps the probe in the DataContext, copied for derived datasets and pickled into
    every task: the copy must not carry the execution it reported, nor tasks need raytop."""
    import copy

    from ray import cloudpickle
    from ray.data._internal.execution.execution_callback import ExecutionCallback

    probe = probe_mod.RaytopProbe(injected=True)
    probe.quiet, probe._dataset_id = True, "ds_1"
    for fresh in (copy.copy(probe), copy.deepcopy(probe)):
        assert type(fresh) is probe_mod.RaytopProbe and fresh is not probe
        assert fresh.injected and fresh.quiet and fresh._dataset_id is None
    assert type(cloudpickle.loads(cloudpickle.dumps(probe))) is ExecutionCallback


def test_interval_from_env(monkeypatch):
    monkeypatch.setenv("RAYTOP_INTERVAL", "0.25")
    assert probe_mod.interval_from_env() == 0.25
    monkeypatch.setenv("RAYTOP_INTERVAL", "garbage")
    assert probe_mod.interval_from_env() == probe_mod.DEFAULT_INTERVAL_S
    monkeypatch.delenv("RAYTOP_INTERVAL")
    assert probe_mod.interval_from_env() == probe_mod.DEFAULT_INTERVAL_S


def test_reporter_thread_ends_when_idle_and_comes_back(monkeypatch):
    """A silenced or dormant probe leaves no raytop thread running in the driver."""
    monkeypatch.setattr(probe_mod._Reporter, "IDLE_EXIT_S", 0.2)
    reporter = probe_mod._Reporter()
    ran = []
    reporter.submit(lambda: ran.append(1), wait=True)
    first = reporter._thread
    assert ran == [1] and first is not None
    first.join(5)  # ends by itself once idle
    assert not first.is_alive() and reporter._thread is None
    reporter.submit(lambda: ran.append(2), wait=True)
    assert ran == [1, 2] and reporter._thread is not first


def test_source_hears_only_the_drivers_of_its_cluster(chan_dir):
    src, snd = _source(chan_dir, cluster="10.0.0.1:6379")
    try:
        other = json.loads(_msg("started", dataset_id="ds_other"))
        other["address"] = "10.0.0.9:6379"  # a job of another cluster, same user
        snd.send(json.dumps(other).encode())
        snd.send(_msg("started", dataset_id="ds_mine"))  # _msg reports 10.0.0.1:6379
        assert [d.dataset_id for d in src.read().datasets] == ["ds_mine"]
    finally:
        src.close()


@pytest.mark.parametrize("watched, reported, same", [
    (None, "10.0.0.9:6379", True), ("10.0.0.1:6379", None, True),
    ("10.0.0.1:6379", "10.0.0.1:6379", True), ("10.0.0.1:6379", "10.0.0.1:6380", False),
    ("10.0.0.1:6379", "10.0.0.2:6379", False), ("127.0.0.1:6379", "localhost:6379", True)])
def test_same_cluster(watched, reported, same):
    from raytop.sources.probe_source import same_cluster

    assert same_cluster(watched, reported) is same


def test_keep_alive_reports_an_execution_that_stopped_stepping(monkeypatch):
    """Ray's scheduling loop stops once every operator is done; the consumer may drain the
    output for long after. The reporter thread then reports in the loop's stead."""

    class Executor:  # a stand-in: only its identity matters here
        _dataset_id = "ds_keep"

    ex, sent = Executor(), []
    p = probe_mod.RaytopProbe()
    p._reset(ex)
    p._start(ex, time.time())
    p._announced = True
    monkeypatch.setattr(probe_mod, "listening", lambda: True)
    monkeypatch.setattr(p, "_report", lambda executor, kind, state, **kw: sent.append((kind, state)))
    p._reported_at = 100.0
    p._keep_alive(100.5)  # reported moments ago: nothing
    assert sent == []
    p._keep_alive(100.0 + max(2 * p._interval, probe_mod.HEARTBEAT_S) + 0.1)
    assert sent == [("step", "RUNNING")]
    p._ended = True  # after the end nothing more
    p._keep_alive(1e9)
    assert sent == [("step", "RUNNING")]


def test_percentiles_from_the_operators_histograms(pipeline_run):
    """The probe's tails: Ray Data's histograms read in the driver (20 read->map tasks)."""
    ds = _dataset(pipeline_run["final"])
    source, read_map, model = ds.operators
    assert source.tails is not None and source.tails.task_s.count == 0  # the input buffer runs none
    assert source.tails.task_s.p50 is None  # nothing observed: unknown, not 0
    tails = read_map.tails
    assert tails.task_s.count == read_map.tasks_finished == 20
    assert 0 < tails.task_s.p50 <= tails.task_s.p90 <= tails.task_s.p99
    assert tails.block_rows.count == tails.block_bytes.count >= 20
    assert tails.block_rows.p50 > 0 and tails.block_bytes.p50 > 0
    assert tails.slow_tasks == () and tails.slow_task_count == 0  # all done at the final report
    assert model.tails.task_s.count == model.tasks_finished
