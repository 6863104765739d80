"""The one wrapper around NVML (``pynvml`` from nvidia-ml-py), nvitop-style.

- Initialised lazily, once; no package / no shared library / no driver / init failure -> ``reason``
  says why, ``devices()`` is never called with a broken binding.
- Every field is read on its own: NotSupported (or any other per-field failure) -> None for that
  field only.
- A GPU that fell off the bus (``NVML_ERROR_GPU_IS_LOST``) -> ``GpuStats(lost=True)``, never an
  exception.
- The binding is injectable (``Nvml(binding=module)``) so tests can feed a failing fake.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raytop.model import GpuStats

_NOT_AVAILABLE = 2 ** 63  # NVML_VALUE_NOT_AVAILABLE is 2**64-1; anything this big is no reading

# NVML return codes (stable across NVML versions), used when a binding lacks the constant.
_ERR = {
    "UNINITIALIZED": 1,
    "NOT_SUPPORTED": 3,
    "DRIVER_NOT_LOADED": 9,
    "LIBRARY_NOT_FOUND": 12,
    "FUNCTION_NOT_FOUND": 13,
    "GPU_IS_LOST": 15,
}


class GpuLost(Exception):
    """Raised inside this module only; turned into ``GpuStats(lost=True)``."""


@dataclass(frozen=True)
class GpuProcessMemory:
    pid: int  # host pid
    gpu_mem_bytes: int | None


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return str(v)


def _import_pynvml() -> Any:
    import pynvml  # noqa: PLC0415 - lazy: only when a GPU reading is asked for

    return pynvml


class Nvml:
    """NVML for this machine's GPUs. Thread-safe; cheap after the first call."""

    def __init__(self, binding: Any = None, *, importer: Callable[[], Any] = _import_pynvml) -> None:
        self._binding = binding
        self._importer = importer
        self._lock = threading.Lock()
        self._initialised = False
        self._reason: str | None = None
        self._handles: list[Any] = []
        self._static: dict[int, tuple[str | None, str | None]] = {}  # index -> (uuid, name)
        self._proc_funcs: dict[str, Callable | None] = {}

    # ---- errors -------------------------------------------------------------------------

    def _code(self, name: str) -> int:
        return getattr(self._binding, f"NVML_ERROR_{name}", _ERR[name])

    def _error_code(self, e: BaseException) -> int | None:
        v = getattr(e, "value", None)
        return v if isinstance(v, int) else None

    def _describe_init_error(self, e: BaseException) -> str:
        code = self._error_code(e)
        if code == self._code("LIBRARY_NOT_FOUND"):
            return "NVML library not found (libnvidia-ml.so: no NVIDIA driver installed)"
        if code == self._code("DRIVER_NOT_LOADED"):
            return "NVIDIA driver not loaded"
        return f"NVML init failed: {e}"

    # ---- init ---------------------------------------------------------------------------

    def _ensure(self) -> bool:
        """Initialise once; True when NVML is usable. Call with the lock held."""
        if self._initialised:
            return True
        if self._reason is not None:
            return False
        if self._binding is None:
            try:
                self._binding = self._importer()
            except Exception as e:  # noqa: BLE001 - ImportError and friends
                self._reason = f"NVML Python binding not installed (nvidia-ml-py): {e}"
                return False
        try:
            self._binding.nvmlInit()
        except Exception as e:  # noqa: BLE001
            self._reason = self._describe_init_error(e)
            return False
        try:
            count = int(self._binding.nvmlDeviceGetCount())
        except Exception as e:  # noqa: BLE001
            self._reason = f"NVML could not count GPUs: {e}"
            self._shutdown_binding()
            return False
        handles = []
        for i in range(count):
            try:
                handles.append(self._binding.nvmlDeviceGetHandleByIndex(i))
            except Exception:  # noqa: BLE001 - lost/broken device: reported per read
                handles.append(None)
        self._handles = handles
        self._initialised = True
        return True

    def _shutdown_binding(self) -> None:
        try:
            self._binding.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass

    @property
    def reason(self) -> str | None:
        """Why NVML is not usable (None when it is); initialises on first use."""
        with self._lock:
            self._ensure()
            return self._reason

    def available(self) -> bool:
        with self._lock:
            return self._ensure()

    def device_count(self) -> int:
        with self._lock:
            return len(self._handles) if self._ensure() else 0

    # ---- reads --------------------------------------------------------------------------

    def _field(self, fn_name: str, *args: Any) -> Any:
        """One NVML call; None when it fails for any reason other than a lost GPU."""
        fn = getattr(self._binding, fn_name, None)
        if fn is None:
            return None
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - NotSupported, NoPermission, ... -> None
            if self._error_code(e) == self._code("GPU_IS_LOST"):
                raise GpuLost() from e
            return None

    def _processes(self, handle: Any) -> tuple[GpuProcessMemory, ...]:
        mem: dict[int, int | None] = {}
        for kind in ("Compute", "Graphics"):
            for p in self._running(kind, handle) or ():
                pid = getattr(p, "pid", None)
                if pid is None:
                    continue
                used = getattr(p, "usedGpuMemory", None)
                used = int(used) if isinstance(used, int) and 0 <= used < _NOT_AVAILABLE else None
                # A process in both lists (compute and graphics) holds one allocation, not two.
                prev = mem.get(pid)
                mem[int(pid)] = max((v for v in (prev, used) if v is not None), default=None)
        return tuple(GpuProcessMemory(pid, m) for pid, m in sorted(mem.items()))

    def _running(self, kind: str, handle: Any) -> list | None:
        """``nvmlDeviceGet<kind>RunningProcesses``: the newest variant both the binding and the
        driver have (v3, v2, v1); remembers which one worked."""
        base = f"nvmlDeviceGet{kind}RunningProcesses"
        known = self._proc_funcs.get(kind)
        candidates = [known] if known is not None else [
            getattr(self._binding, base + suffix, None) for suffix in ("_v3", "_v2", "")]
        for fn in candidates:
            if fn is None:
                continue
            try:
                result = fn(handle)
            except Exception as e:  # noqa: BLE001
                code = self._error_code(e)
                if code == self._code("GPU_IS_LOST"):
                    raise GpuLost() from e
                if code == self._code("FUNCTION_NOT_FOUND") and known is None:
                    continue  # the driver lacks this variant: try an older one
                return None
            self._proc_funcs[kind] = fn
            return list(result or ())
        return None

    def _device(self, index: int, handle: Any) -> tuple[GpuStats, tuple[GpuProcessMemory, ...]]:
        uuid, name = self._static.get(index, (None, None))
        if handle is None:
            return GpuStats(index=index, uuid=uuid, name=name), ()
        try:
            if index not in self._static:
                uuid = _text(self._field("nvmlDeviceGetUUID", handle))
                name = _text(self._field("nvmlDeviceGetName", handle))
                self._static[index] = (uuid, name)
            util = self._field("nvmlDeviceGetUtilizationRates", handle)
            mem = self._field("nvmlDeviceGetMemoryInfo", handle)
            power = self._field("nvmlDeviceGetPowerUsage", handle)  # mW
            limit = self._field("nvmlDeviceGetEnforcedPowerLimit", handle)
            if limit is None:
                limit = self._field("nvmlDeviceGetPowerManagementLimit", handle)
            temp = self._field("nvmlDeviceGetTemperature", handle,
                               getattr(self._binding, "NVML_TEMPERATURE_GPU", 0))
            procs = self._processes(handle)
        except GpuLost:
            return GpuStats(index=index, uuid=uuid, name=name, lost=True), ()
        stats = GpuStats(
            index=index, uuid=uuid, name=name,
            util_percent=_num(getattr(util, "gpu", None)),
            mem_util_percent=_num(getattr(util, "memory", None)),
            mem_used_bytes=_int(getattr(mem, "used", None)),
            mem_total_bytes=_int(getattr(mem, "total", None)),
            power_watts=_num(power, 1000.0),
            power_limit_watts=_num(limit, 1000.0),
            temp_c=_num(temp),
        )
        return stats, procs

    def devices(self) -> list[tuple[GpuStats, tuple[GpuProcessMemory, ...]]]:
        """Each GPU's readings and its processes' memory (host pids, operator not resolved);
        [] when NVML is not usable (see ``reason``). Never raises."""
        with self._lock:
            if not self._ensure():
                return []
            out = []
            for i, h in enumerate(self._handles):
                try:
                    out.append(self._device(i, h))
                except Exception:  # noqa: BLE001 - a broken binding must not stop the others
                    uuid, name = self._static.get(i, (None, None))
                    out.append((GpuStats(index=i, uuid=uuid, name=name), ()))
            return out

    def close(self) -> None:
        with self._lock:
            if self._initialised:
                self._shutdown_binding()
            self._initialised = False
            self._handles = []


def _num(v: Any, div: float = 1.0) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if v >= _NOT_AVAILABLE:
        return None
    return float(v) / div


def _int(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < _NOT_AVAILABLE:
        return None
    return int(v)
