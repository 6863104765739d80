"""NVML wrapper and GPU source against injected fake bindings (issue 8 item 5): library missing,
init failure, NotSupported fields, a GPU lost mid-run. Fields become None, the reason is reported,
nothing raises. Real-GPU tests live in tests/gpu/."""

from __future__ import annotations

import os
import types

import pytest

from raytop.model import OK
from raytop.sources.base import SourceAbsent
from raytop.sources.gpu import GpuSource
from raytop.sources.nvml import Nvml

GIB = 1 << 30


class NVMLError(Exception):
    def __init__(self, value):
        super().__init__(f"NVML error {value}")
        self.value = value


class FakeNvml(types.SimpleNamespace):
    """A pynvml-shaped module: two GPUs; ``fail`` maps function name -> error code."""

    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_ERROR_FUNCTION_NOT_FOUND = 13
    NVML_ERROR_GPU_IS_LOST = 15
    NVML_TEMPERATURE_GPU = 0
    NVMLError = NVMLError

    def __init__(self, procs=None, fail=None, init_error=None, lost=()):
        super().__init__()
        self.procs = procs or {}
        self.fail = dict(fail or {})
        self.init_error = init_error
        self.lost = set(lost)
        self.shutdowns = 0

    def _call(self, fn, handle, value):
        if handle in self.lost:
            raise NVMLError(self.NVML_ERROR_GPU_IS_LOST)
        if fn in self.fail:
            raise NVMLError(self.fail[fn])
        return value

    def nvmlInit(self):
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetUUID(self, h):
        return self._call("uuid", h, f"GPU-{h}".encode())

    def nvmlDeviceGetName(self, h):
        return self._call("name", h, "Fake H100")

    def nvmlDeviceGetUtilizationRates(self, h):
        return self._call("util", h, types.SimpleNamespace(gpu=87, memory=40))

    def nvmlDeviceGetMemoryInfo(self, h):
        return self._call("mem", h, types.SimpleNamespace(used=30 * GIB, total=80 * GIB))

    def nvmlDeviceGetPowerUsage(self, h):
        return self._call("power", h, 350_000)

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return self._call("limit", h, 700_000)

    def nvmlDeviceGetTemperature(self, h, sensor):
        return self._call("temp", h, 61)

    def nvmlDeviceGetComputeRunningProcesses_v3(self, h):
        return self._call("v3", h, [types.SimpleNamespace(pid=p, usedGpuMemory=m)
                                    for p, m in self.procs.get(h, [])])

    def nvmlDeviceGetComputeRunningProcesses_v2(self, h):
        return self._call("v2", h, [types.SimpleNamespace(pid=p, usedGpuMemory=m)
                                    for p, m in self.procs.get(h, [])])

    def nvmlDeviceGetGraphicsRunningProcesses(self, h):
        return self._call("graphics", h, [])


def test_library_missing_is_absent_with_reason():
    def no_module():
        raise ImportError("No module named 'pynvml'")

    nvml = Nvml(importer=no_module)
    assert nvml.devices() == []
    assert "not installed" in nvml.reason
    with pytest.raises(SourceAbsent, match="not installed"):
        GpuSource(nvml, node_id="n1").read()


def test_shared_library_not_found_reason():
    fake = FakeNvml(init_error=FakeNvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    with pytest.raises(SourceAbsent, match="NVML library not found"):
        GpuSource(Nvml(fake), node_id="n1").read()


def test_init_failure_reason():
    fake = FakeNvml(init_error=999)
    nvml = Nvml(fake)
    assert not nvml.available()
    assert nvml.reason.startswith("NVML init failed")
    assert nvml.devices() == []


def test_real_binding_on_this_machine_never_raises_anything_but_absent():
    src = GpuSource(node_id="n1")
    try:
        part = src.read()
    except SourceAbsent as e:
        assert str(e)  # the real reason, e.g. "NVML library not found ..."
    else:
        assert part.overlays[0].gpus
    src.close()


def test_full_reading_and_operator_attribution():
    me = os.getpid()
    fake = FakeNvml(procs={0: [(me, 2 * GIB), (424242, None)], 1: []})
    part = GpuSource(Nvml(fake), node_id="n1", ip="10.0.0.1").gpus(pid_operators={me: "MapBatches(M)"})
    g0, g1 = part
    assert (g0.index, g0.uuid, g0.name) == (0, "GPU-0", "Fake H100")
    assert g0.util_percent == 87.0 and g0.mem_util_percent == 40.0
    assert g0.mem_used_bytes == 30 * GIB and g0.mem_total_bytes == 80 * GIB
    assert g0.power_watts == 350.0 and g0.power_limit_watts == 700.0 and g0.temp_c == 61.0
    assert not g0.lost
    procs = {p.pid: p for p in g0.processes}
    assert procs[me].gpu_mem_bytes == 2 * GIB and procs[me].operator == "MapBatches(M)"
    # memory "not available" and a pid that is no Ray worker: None, not 0 / a guess
    assert procs[424242].gpu_mem_bytes is None and procs[424242].operator is None
    assert g1.processes == ()


def test_read_returns_overlay_for_this_node():
    part = GpuSource(Nvml(FakeNvml()), node_id="n1", ip="10.0.0.1").read()
    (ov,) = part.overlays
    assert (ov.node_id, ov.ip, ov.gpu_source) == ("n1", "10.0.0.1", OK)
    assert len(ov.gpus) == 2


def test_not_supported_fields_are_none_only_for_that_field():
    ns = FakeNvml.NVML_ERROR_NOT_SUPPORTED
    fake = FakeNvml(fail={"power": ns, "limit": ns, "temp": ns, "util": ns})
    g0 = GpuSource(Nvml(fake), node_id="n1").gpus()[0]
    assert g0.power_watts is None and g0.power_limit_watts is None and g0.temp_c is None
    assert g0.util_percent is None and g0.mem_util_percent is None
    assert g0.mem_used_bytes == 30 * GIB and g0.name == "Fake H100" and not g0.lost


def test_process_list_falls_back_to_older_variant():
    me = os.getpid()
    fake = FakeNvml(procs={0: [(me, GIB)]}, fail={"v3": FakeNvml.NVML_ERROR_FUNCTION_NOT_FOUND})
    g0 = GpuSource(Nvml(fake), node_id="n1").gpus()[0]
    assert [(p.pid, p.gpu_mem_bytes) for p in g0.processes] == [(me, GIB)]


def test_gpu_lost_mid_run_marks_that_gpu_only():
    fake = FakeNvml()
    src = GpuSource(Nvml(fake), node_id="n1")
    before = src.gpus()
    assert not any(g.lost for g in before)
    fake.lost.add(1)  # GPU 1 falls off the bus
    g0, g1 = src.gpus()
    assert not g0.lost and g0.util_percent == 87.0
    assert g1.lost and g1.util_percent is None and g1.mem_used_bytes is None
    assert g1.uuid == "GPU-1"  # identity read before the loss is kept
    fake.lost.clear()
    assert not src.gpus()[1].lost


def test_binding_raising_unexpected_errors_never_escapes():
    fake = FakeNvml()
    fake.nvmlDeviceGetMemoryInfo = lambda h: (_ for _ in ()).throw(RuntimeError("boom"))
    g0 = GpuSource(Nvml(fake), node_id="n1").gpus()[0]
    assert g0.mem_used_bytes is None and g0.util_percent == 87.0


def test_close_shuts_nvml_down_once():
    fake = FakeNvml()
    src = GpuSource(Nvml(fake), node_id="n1")
    src.read()
    src.close()
    src.close()
    assert fake.shutdowns == 1
