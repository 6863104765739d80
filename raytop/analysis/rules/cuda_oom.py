"""What a CUDA out-of-memory error says, and the batch size that would have fit.

PyTorch's message carries the figures: ``Tried to allocate 20.00 GiB. GPU 0 has a total capacity
of 139.72 GiB of which 3.45 GiB is free. Including non-PyTorch memory, this process has 136.25
GiB memory in use.`` (older releases: ``Tried to allocate X (GPU 0; T total capacity; A already
allocated; F free; ...)``). The failing step needed at least what the process held plus what it
tried to allocate. Taking the memory as growing in proportion to the batch (the model's own
weights included, so the answer errs small), the batch that fits in ``GPU_BATCH_FIT_FRACTION`` of
the card is

    fit = floor(batch x GPU_BATCH_FIT_FRACTION x total / (in use + tried))

Without those figures (another framework's message): half the batch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .. import thresholds as th

_UNITS = {"b": 1, "kib": 1024, "kb": 1000, "mib": 1024 ** 2, "mb": 1000 ** 2, "gib": 1024 ** 3,
          "gb": 1000 ** 3, "tib": 1024 ** 4, "tb": 1000 ** 4}
_SIZE = r"([\d.]+)\s*([KMGT]i?B|B|bytes)\b"
_TRIED = re.compile(r"Tried to allocate " + _SIZE, re.I)
_TOTAL = re.compile(r"total capacity of " + _SIZE + r"|" + _SIZE + r" total capacity", re.I)
_FREE = re.compile(r"of which " + _SIZE + r" is free|" + _SIZE + r" free\b", re.I)
_IN_USE = re.compile(r"has " + _SIZE + r" memory in use|" + _SIZE + r" already allocated", re.I)


@dataclass(frozen=True)
class CudaOom:
    tried_bytes: float | None = None
    total_bytes: float | None = None
    free_bytes: float | None = None
    in_use_bytes: float | None = None

    @property
    def needed_bytes(self) -> float | None:
        """What the failing step needed at least: held plus the allocation that failed."""
        held = self.in_use_bytes
        if held is None and self.total_bytes is not None and self.free_bytes is not None:
            held = self.total_bytes - self.free_bytes
        if held is None or self.tried_bytes is None:
            return None
        return held + self.tried_bytes


@dataclass(frozen=True)
class FittingBatch:
    batch_size: int
    why: str  # the arithmetic, in words


def _bytes(m: re.Match | None) -> float | None:
    if m is None:
        return None
    groups = [g for g in m.groups() if g is not None]
    if len(groups) < 2:
        return None
    unit = groups[1].lower().replace("bytes", "b")
    try:
        return float(groups[0]) * _UNITS[unit]
    except (KeyError, ValueError):
        return None


def parse_cuda_oom(text: str) -> CudaOom:
    text = text or ""
    return CudaOom(tried_bytes=_bytes(_TRIED.search(text)), total_bytes=_bytes(_TOTAL.search(text)),
                   free_bytes=_bytes(_FREE.search(text)), in_use_bytes=_bytes(_IN_USE.search(text)))


def _gib(x: float) -> str:
    return f"{x / 1024 ** 3:.1f} GiB"


def fitting_batch(batch: int | None, oom: CudaOom) -> FittingBatch | None:
    """The batch size to use instead of ``batch`` (module docstring); None when ``batch`` is
    not known."""
    if not batch or batch < 1:
        return None
    needed, total = oom.needed_bytes, oom.total_bytes
    if needed and total:
        fit = math.floor(batch * th.GPU_BATCH_FIT_FRACTION * total / needed)
        fit = max(1, min(batch - 1, fit)) if batch > 1 else 1
        return FittingBatch(fit, f"the step needed {_gib(needed)} (held + tried) of the "
                                 f"{_gib(total)} card; {batch} x {th.GPU_BATCH_FIT_FRACTION:g} x "
                                 f"{_gib(total)} / {_gib(needed)}")
    return FittingBatch(max(1, batch // 2), "half: the error gives no memory figures")
