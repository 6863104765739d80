"""Messages posted from background threads to the app (``post_message`` is thread-safe): all
that crosses from a producer or a worker to the UI thread is one of these."""

from __future__ import annotations

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

    def __init__(self, lines: list[str], exit_code: int | None) -> None:
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


class ProbeLoaded(Message):
    """The inject worker's answer to ``i``: whether the probe now runs in the driver, and why."""

    def __init__(self, ok: bool, text: str) -> None:
        super().__init__()
        self.ok = ok
        self.text = text


class StacksReady(Message):
    """The stacks worker's answer to ``s``: the stacks of ``operator`` as text, or why there are
    none (one line)."""

    def __init__(self, operator: str, text: str | None, error: str | None) -> None:
        super().__init__()
        self.operator = operator
        self.text = text
        self.error = error
