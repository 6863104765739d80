"""The one place figures become text: the TUI, the status line, the advisor's evidence and the
reports all format through here.

Every function takes ``None`` for "could not be read" and renders it as ``NA`` so a missing value
never looks like a zero. Compact forms (``fmt_count``: 12.3k) are for the live view; the exact
forms (``fmt_thousands``: 12,345) for reports, where there is room.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

NA = "–"
SPARK_CHARS = "▁▂▃▄▅▆▇█"
_BYTE_UNITS = ("B", "K", "M", "G", "T", "P")


def fmt_bytes(n: float | None) -> str:
    """1536 -> '1.5K'; binary units, at most 4 significant characters before the unit."""
    if n is None:
        return NA
    value = float(n)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit in _BYTE_UNITS:
        if value < 1024 or unit == _BYTE_UNITS[-1]:
            if unit == "B":
                return f"{sign}{int(value)}B"
            return f"{sign}{value:.1f}{unit}" if value < 100 else f"{sign}{value:.0f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_count(n: float | None) -> str:
    """12345 -> '12.3k'; small numbers as they are."""
    if n is None:
        return NA
    value = float(n)
    if abs(value) < 1000:
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    for unit in ("k", "M", "G", "T"):
        value /= 1000
        if abs(value) < 1000 or unit == "T":
            return f"{value:.1f}{unit}" if abs(value) < 100 else f"{value:.0f}{unit}"
    raise AssertionError("unreachable")


def fmt_plain(v: object) -> str:
    """A setting's value as it is written in code: 1.0 -> '1', 0.5 -> '0.5'."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def fmt_rate(n: float | None, unit: str = "/s") -> str:
    return NA if n is None else f"{fmt_count(n)}{unit}"


def fmt_percent(p: float | None) -> str:
    return NA if p is None else f"{p:.0f}%"


def fmt_share(x: float | None, digits: int = 0) -> str:
    """A fraction (0..1) as a percentage with a space: 0.943 -> '94 %' ('94.3 %' with digits=1)."""
    return NA if x is None else f"{100 * x:.{digits}f} %"


def fmt_duration(s: float | None) -> str:
    """Seconds as m:ss or h:mm:ss."""
    if s is None or math.isnan(s):
        return NA
    s = max(0, int(round(s)))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def parse_duration(text: str) -> float:
    """'90', '1:30', '1:02:03', '90s', '2m' -> seconds. ValueError on anything else."""
    text = text.strip().lower()
    if not text:
        raise ValueError("empty time")
    if text.endswith("s") and ":" not in text:
        return float(text[:-1])
    if text.endswith("m") and ":" not in text:
        return float(text[:-1]) * 60
    if text.endswith("h") and ":" not in text:
        return float(text[:-1]) * 3600
    parts = text.split(":")
    if len(parts) > 3:
        raise ValueError(f"not a time: {text!r}")
    total = 0.0
    for part in parts:
        value = float(part)
        if value < 0:
            raise ValueError(f"negative time: {text!r}")
        total = total * 60 + value
    return total


def fraction(used: float | None, total: float | None) -> float | None:
    if used is None or not total:
        return None
    return max(0.0, min(1.0, used / total))


def bar(frac: float | None, width: int) -> str:
    """A horizontal bar of ``width`` cells; eighths for the partial cell; blank-dotted when unknown."""
    if width <= 0:
        return ""
    if frac is None:
        return "·" * width
    eighths = round(max(0.0, min(1.0, frac)) * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part and full < width else ""
    return ("█" * full + partial).ljust(width, "░")


def sparkline(values: Sequence[float | None], width: int, *, lo: float | None = 0.0,
              hi: float | None = None) -> str:
    """The last ``width`` values as block characters; a missing value is a space."""
    if width <= 0:
        return ""
    tail = list(values)[-width:]
    known = [v for v in tail if v is not None]
    if not known:
        return " " * width
    low = min(known) if lo is None else lo
    high = max(known) if hi is None else hi
    span = high - low
    out = []
    for v in tail:
        if v is None:
            out.append(" ")
        elif span <= 0:
            out.append(SPARK_CHARS[0] if v <= low else SPARK_CHARS[-1])
        else:
            level = (min(max(v, low), high) - low) / span
            out.append(SPARK_CHARS[min(len(SPARK_CHARS) - 1, int(level * len(SPARK_CHARS)))])
    return "".join(out).rjust(width)


def truncate(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


# ---- exact figures (reports) ----------------------------------------------------------------

def fmt_thousands(v: float | None) -> str:
    """12345 -> '12,345'."""
    return NA if v is None else f"{int(v):,}"


def fmt_number(v: float | None, digits: int = 1) -> str:
    if v is None:
        return NA
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def fmt_rate_exact(v: float | None) -> str:
    """A rate with the digits that matter: '1,234', '12.3', '1.23'."""
    if v is None:
        return NA
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:,.2f}"


def fmt_percent_exact(v: float | None) -> str:
    return NA if v is None else f"{v:.1f} %"


def fmt_seconds(v: float | None) -> str:
    """'12.3 s', '4m 05s', '1h 02m 03s'."""
    if v is None:
        return NA
    if v < 60:
        return f"{v:.1f} s"
    s = int(round(v))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def fmt_short_seconds(v: float | None) -> str:
    """A task's time: '45 ms', '1.25 s', '12.3 s', '4m 05s'."""
    if v is None:
        return NA
    if v < 1:
        return f"{1000 * v:.0f} ms"
    return f"{v:.2f} s" if v < 10 else fmt_seconds(v)


def fmt_percentiles(p50: float | None, p90: float | None, p99: float | None, fmt=fmt_short_seconds) -> str:
    """'p50 / p90 / p99' with ``fmt``; an unknown one reads NA."""
    return " / ".join(fmt(v) for v in (p50, p90, p99))


def fmt_clock(seconds: float) -> str:
    """Elapsed seconds as m:ss or h:mm:ss, negative allowed (chart axes)."""
    s = int(round(seconds))
    sign = "-" if s < 0 else ""
    h, rem = divmod(abs(s), 3600)
    m, sec = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


def fmt_utc(t: float | None) -> str:
    if t is None:
        return NA
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_change(before: float | None, after: float | None) -> str:
    """Relative change as '+12.5 %'; NA when either side is unknown or the base is 0."""
    if before is None or after is None:
        return NA
    if before == 0:
        return "±0 %" if after == 0 else NA
    return f"{(after - before) / abs(before) * 100.0:+.1f} %"


def fmt_by_kind(kind: str, v: float | None) -> str:
    """``v`` formatted by the kind a comparison metric names."""
    by_kind = {"rate": fmt_rate_exact, "duration": fmt_seconds, "percent": fmt_percent_exact,
               "bytes": fmt_bytes, "count": fmt_thousands}
    return by_kind.get(kind, fmt_number)(v)
