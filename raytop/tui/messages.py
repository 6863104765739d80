"""Messages posted from background threads to the app (``post_message`` is thread-safe)."""

from __future__ import annotations

from typing import Optional

from textual.message import Message

from raytop.tui.frame import Frame


class FrameReady(Message):
    """A new frame. Consecutive pending frames collapse into the newest one (a slow UI skips
    stale frames; history travels inside the frame so nothing is lost)."""

    def __init__(self, frame: Frame) -> None:
        super().__init__()
        self.frame = frame

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FrameReady)


class JobUpdate(Message):
    """The script of ``raytop run``: its log tail and, once it ended, its exit code."""

    def __init__(self, lines: list[str], exit_code: Optional[int]) -> None:
        super().__init__()
        self.lines = lines
        self.exit_code = exit_code

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobUpdate)


class FeedError(Message):
    """The replay worker could not read the recording any more."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
