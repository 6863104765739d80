"""The replay scrubber: where we are in the recording, play state and speed; click to seek."""

from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from raytop.format import fmt_duration
from raytop.tui.frame import ReplayPosition


def _speed(speed: float) -> str:
    return f"{speed:g}x"


class Scrubber(Widget):
    DEFAULT_CSS = "Scrubber { height: 1; }"

    class Seek(Message):
        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.position: Optional[ReplayPosition] = None
        self.t: Optional[float] = None  # unix time of the snapshot shown
        self._track = (0, 0)  # x offset and width of the track, for clicks

    def show(self, position: Optional[ReplayPosition], t: Optional[float]) -> None:
        self.position, self.t = position, t
        self.refresh()

    def render(self) -> Text:
        pos = self.position
        text = Text(no_wrap=True, overflow="ellipsis")
        if pos is None:
            return text.append("loading the recording…", style="dim")
        text.append(" ▶ " if pos.playing else " || ", style="bold reverse green" if pos.playing else "bold reverse")
        text.append(f" {_speed(pos.speed):>5} ")
        span = pos.t_end - pos.t_start
        offset = 0.0 if self.t is None else self.t - pos.t_start
        here = offset / span if span > 0 else 0.0
        left = f"{fmt_duration(offset)} "
        right = f" {fmt_duration(span)}  {pos.index + 1}/{pos.count}"
        text.append(left)
        width = max(5, self.size.width - len(text.plain) - len(right))
        self._track = (len(text.plain), width)
        cut = min(width - 1, int(round(here * (width - 1))))
        text.append("━" * cut, style="cyan")
        text.append("●", style="bold cyan")
        text.append("─" * (width - cut - 1), style="dim")
        text.append(right)
        return text

    def on_click(self, event: events.Click) -> None:
        x0, width = self._track
        if width <= 1 or self.position is None:
            return
        frac = (event.x - x0) / (width - 1)
        if -0.05 <= frac <= 1.05:
            self.post_message(self.Seek(max(0.0, min(1.0, frac))))
