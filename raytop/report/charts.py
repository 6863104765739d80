"""Draws the report's charts with matplotlib (Agg/SVG, no pyplot and no GUI): SVG text for the
self-contained HTML, PNG bytes for the Markdown's image folder.

SVGs keep text as <text> (no embedded glyph paths: smaller, and no web font: the viewer's own
sans-serif draws it), carry no XML prolog, DOCTYPE, metadata or namespace URLs (so the HTML holds no
external URL at all), and every chart gets its own id salt so ids never clash in one page.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from raytop import format as fmt
from raytop.report.series import Chart

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType  # for type checking only: older matplotlib lacks it

matplotlib.use("Agg", force=False)  # never a GUI backend, even where a display exists

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "legend.fontsize": 8,
    "legend.frameon": False,
}
_POLICY_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")


_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


def _time_step(span_s: float) -> float:
    """A whole-second/minute/hour tick step giving at most ~10 ticks."""
    for step in _STEPS:
        if span_s / step <= 10:
            return float(step)
    return float(86400 * max(1, round(span_s / 86400 / 10)))


def _figure(chart: Chart) -> Figure:
    if chart.spans is not None:
        height = 1.3 + 0.42 * max(1, len(chart.spans.rows))
    else:
        height = 3.3
    fig = Figure(figsize=(10, height), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(chart.title)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt.fmt_clock(v)))
    ax.xaxis.set_major_locator(MultipleLocator(_time_step(chart.span_s)))
    ax.set_xlabel("elapsed since the recording started")
    if chart.spans is not None:
        _draw_spans(fig, ax, chart)
    else:
        _draw_lines(fig, ax, chart)
    ax.set_xlim(0, max(chart.span_s, 1.0))  # every chart shares one time axis
    return fig


def short(label: str, limit: int = 44) -> str:
    """Long fused names keep their start and end: "ReadRange->…->MapBatches(preprocess)"."""
    if len(label) <= limit:
        return label
    keep = (limit - 1) // 2
    return label[:keep] + "…" + label[-keep:]


def _draw_lines(fig: Figure, ax, chart: Chart) -> None:
    for s in chart.series:
        ax.plot(s.t, s.y, label=short(s.label), linewidth=1.3, linestyle="--" if s.dashed else "-",
                color=s.colour)
    ax.set_ylabel(chart.ylabel)
    ax.set_ylim(bottom=0)
    if chart.ymax is not None:
        ax.set_ylim(top=chart.ymax * (1.0 if chart.ylabel == "%" else 1.05))
    if len(chart.series) > 1 or chart.series and chart.series[0].label:
        fig.legend(loc="outside lower center", ncols=min(4, len(chart.series)))


def _draw_spans(fig: Figure, ax, chart: Chart) -> None:
    if chart.spans is None:
        return
    rows = chart.spans.rows
    policies = sorted({flag for _, per in rows for flag in per})
    colour = {flag: _POLICY_COLOURS[i % len(_POLICY_COLOURS)] for i, flag in enumerate(policies)}
    n = len(rows)
    for row, (_label, per) in enumerate(rows):
        k = max(1, len(per))
        for j, (flag, spans) in enumerate(sorted(per.items())):
            # several policies on one operator share its row as thin stacked bands
            y = n - 1 - row - 0.4 + j * 0.8 / k
            ax.broken_barh(spans, (y, 0.8 / k), facecolors=colour[flag], label=flag)
    ax.set_yticks(range(n), [short(label, 36) for label, _ in reversed(rows)])
    ax.set_ylim(-0.6, n - 0.4)
    ax.grid(axis="y", visible=False)
    handles, labels, seen = [], [], set()
    for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
        if lab not in seen:
            seen.add(lab)
            handles.append(h)
            labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(handles)))


_STRIP = [
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*"),
    re.compile(r"<metadata>.*?</metadata>\s*", re.S),
    re.compile(r'\s+xmlns(:\w+)?="[^"]*"'),
]


def render_svg(chart: Chart, salt: str) -> str | None:
    """The chart as inline-ready SVG markup, or None when it has nothing to draw."""
    if chart.empty:
        return None
    with matplotlib.rc_context({**_RC, "svg.hashsalt": f"raytop-{salt}"}):
        fig = _figure(chart)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    for pattern in _STRIP:
        svg = pattern.sub("", svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{chart.title}" ', 1)


def render_png(chart: Chart, dpi: int = 110) -> bytes | None:
    if chart.empty:
        return None
    with matplotlib.rc_context(_RC):
        fig = _figure(chart)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
