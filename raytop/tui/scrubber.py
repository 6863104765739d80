"""The replay scrubber: where we are in the recording, play state and speed; click to seek."""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from raytop.format import fmt_duration
from raytop.tui.frame import EMPTY_FRAME, Frame, ReplayPosition


def _speed(speed: float) -> str:
    return f"{speed:g}x"


class Track(NamedTuple):
    """The bar of one rendering: where it starts, how wide it is, where the position sits."""

    x: int
    width: int
    cut: int


def _head(pos: ReplayPosition) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if pos.playing:
        text.append(" ▶ ", style="bold reverse green")
    else:
        text.append(" || ", style="bold reverse")
    text.append(f" {_speed(pos.speed):>5} ")
    return text


class Scrubber(Widget):
    """Bound to the overview's frame: shows the frame's replay position."""

    DEFAULT_CSS = "Scrubber { height: 1; }"

    frame: reactive[Frame] = reactive(EMPTY_FRAME)

    class Seek(Message):
        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

    def _parts(self, pos: ReplayPosition) -> tuple[Text, str, Track]:
        """The text left of the bar, the text right of it, and the bar, for the current width."""
        span = pos.t_end - pos.t_start
        offset = 0.0 if self.frame.empty else self.frame.snapshot.t - pos.t_start
        here = offset / span if span > 0 else 0.0
        left = _head(pos).append(f"{fmt_duration(offset)} ")
        right = f" {fmt_duration(span)}  {pos.index + 1}/{pos.count}"
        width = max(5, self.size.width - len(left.plain) - len(right))
        return left, right, Track(len(left.plain), width, min(width - 1, int(round(here * (width - 1)))))

    def render(self) -> Text:
        pos = self.frame.replay
        if pos is None:
            return Text(no_wrap=True, overflow="ellipsis").append("loading the recording…", style="dim")
        text, right, track = self._parts(pos)
        text.append("━" * track.cut, style="cyan")
        text.append("●", style="bold cyan")
        text.append("─" * (track.width - track.cut - 1), style="dim")
        text.append(right)
        return text

    def on_click(self, event: events.Click) -> None:
        pos = self.frame.replay
        if pos is None:
            return
        track = self._parts(pos)[2]
        if track.width <= 1:
            return
        frac = (event.x - track.x) / (track.width - 1)
        if -0.05 <= frac <= 1.05:
            self.post_message(self.Seek(max(0.0, min(1.0, frac))))
