"""Human formatting of report figures, shared by the HTML and Markdown renderers.

Every helper turns ``None`` (a value that could not be read) into an em dash, never into 0.
"""

from __future__ import annotations

import datetime as _dt
from typing import Optional

NA = "—"


def num(v: Optional[float], digits: int = 1) -> str:
    if v is None:
        return NA
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def count(v: Optional[int]) -> str:
    return NA if v is None else f"{int(v):,}"


def rate(v: Optional[float]) -> str:
    if v is None:
        return NA
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:,.2f}"


def percent(v: Optional[float]) -> str:
    return NA if v is None else f"{v:.1f} %"


def nbytes(v: Optional[float]) -> str:
    if v is None:
        return NA
    size = float(v)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return NA  # unreachable


def duration(v: Optional[float]) -> str:
    if v is None:
        return NA
    if v < 60:
        return f"{v:.1f} s"
    s = int(round(v))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def clock(seconds: float) -> str:
    """Elapsed seconds as m:ss or h:mm:ss (chart axes)."""
    s = int(round(seconds))
    sign = "-" if s < 0 else ""
    s = abs(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


def utc(t: Optional[float]) -> str:
    if t is None:
        return NA
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def change(before: Optional[float], after: Optional[float]) -> str:
    """Relative change as "+12.5 %"; "—" when either side is unknown or the base is 0."""
    if before is None or after is None:
        return NA
    if before == 0:
        return "±0 %" if after == 0 else NA
    pct = (after - before) / abs(before) * 100.0
    return f"{pct:+.1f} %"


def value(kind: str, v) -> str:
    """Format ``v`` by the kind named in a comparison metric."""
    return {"rate": rate, "duration": duration, "percent": percent, "bytes": nbytes,
            "count": count}.get(kind, num)(v)
