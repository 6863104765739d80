"""GPU tests run only where NVML sees a GPU; elsewhere they skip with the reason."""

import pytest

from raytop.sources.nvml import Nvml


def _gpu_reason():
    nv = Nvml()
    try:
        if not nv.available():
            return f"no GPU: {nv.reason}"
        if nv.device_count() == 0:
            return "no GPU: NVML sees no device"
        return None
    finally:
        nv.close()


_REASON = _gpu_reason()


def pytest_collection_modifyitems(config, items):
    if _REASON is None:
        return
    skip = pytest.mark.skip(reason=_REASON)
    for item in items:
        if "tests/gpu/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)
