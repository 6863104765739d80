"""Real NVML on a real GPU: every field filled, per-process memory attributed to the model
operator of a real Ray Data pipeline under `raytop run`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from raytop.recording import RecordingReader
from raytop.sources.gpu import GpuSource
from raytop.sources.nvml import Nvml

pytestmark = pytest.mark.gpu
DEMO = Path(__file__).resolve().parents[2] / "demos" / "gpu_inference.py"


def test_every_gpu_field_is_read():
    nv = Nvml()
    devices = nv.devices()
    nv.close()
    assert devices
    for gpu, _procs in devices:
        assert not gpu.lost
        for field in ("uuid", "name", "util_percent", "mem_used_bytes", "mem_total_bytes",
                      "power_watts", "temp_c", "power_limit_watts", "mem_util_percent"):
            assert getattr(gpu, field) is not None, field
        assert 0 <= gpu.util_percent <= 100
        assert 0 < gpu.mem_used_bytes <= gpu.mem_total_bytes
        assert 10 < gpu.power_watts < 2000
        assert 0 < gpu.temp_c < 120


def test_gpu_source_overlay():
    part = GpuSource().read()
    (ov,) = part.overlays
    assert ov.gpus and ov.gpu_source == "ok"


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    rec = tmp / "gpu.raytop"
    res = subprocess.run([sys.executable, "-m", "raytop", "run", "--headless", "--interval", "0.5",
                          "--record", str(rec), str(DEMO), "--mode", "tuned", "--rows", "20000"],
                         capture_output=True, text=True, timeout=400, cwd=tmp)
    assert res.returncode == 0, res.stderr[-3000:]
    with RecordingReader(rec) as r:
        return list(r.iter_snapshots())


def test_gpu_memory_attributed_to_model_operator(gpu_run):
    procs = [p for s in gpu_run for n in s.nodes for g in n.gpus for p in g.processes]
    assert any(p.operator == "MapBatches(Classifier)" and (p.gpu_mem_bytes or 0) > 0 for p in procs)
    op_mem = [op.gpu_mem_bytes for s in gpu_run for d in s.datasets for op in d.operators
              if op.name == "MapBatches(Classifier)" and op.gpu_mem_bytes]
    assert op_mem and max(op_mem) > 100 * 1024**2


def test_gpu_busy_while_the_model_runs(gpu_run):
    utils = [g.util_percent for s in gpu_run for n in s.nodes for g in n.gpus
             if g.util_percent is not None]
    assert utils and max(utils) > 10
