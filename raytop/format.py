"""Human formatting of numbers, shared by the TUI, the status line and reports. None → "n/a"."""

from __future__ import annotations

from typing import Optional

NA = "n/a"


def fmt_bytes(n: Optional[float]) -> str:
    if n is None:
        return NA
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}TB"


def fmt_count(n: Optional[float]) -> str:
    if n is None:
        return NA
    n = float(n)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}" if n == int(n) else f"{n:.1f}"


def fmt_percent(p: Optional[float]) -> str:
    return NA if p is None else f"{p:.0f}%"


def fmt_duration(s: Optional[float]) -> str:
    if s is None:
        return NA
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
