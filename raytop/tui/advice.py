"""The overview's advice panel: the advisor's suggestions for the chosen dataset, each drawn on
its own and kept while it does not change."""

from __future__ import annotations

from rich.text import Text
from textual.strip import Strip

from raytop.model import Suggestion
from raytop.tui import derive
from raytop.tui.panels import SEVERITY_STYLE, FramePanel


def suggestion_text(s: Suggestion) -> Text:
    """One suggestion as the advice panel shows it: severity, rule, operator and title, then
    the evidence and the fix, indented."""
    text = Text(no_wrap=False, overflow="fold")
    text.append(f"[{s.severity}] ", style=SEVERITY_STYLE.get(s.severity, "bold"))
    if s.figures.get("failure"):  # the dataset failed: this is why, and it leads
        text.append("FAILED ", style="bold reverse red")
    text.append(f"{s.rule}", style="bold")
    if s.operator:
        text.append(f" · {s.operator}", style="cyan")
    text.append(f": {s.title}\n")
    text.append(f"  {s.evidence}\n", style="dim")
    text.append(f"  → {s.fix}")
    return text


class AdviceView(FramePanel):
    """The advisor's suggestions for the chosen dataset, most severe first.

    Each suggestion is drawn on its own and kept for the next frame (about half of them come
    back unchanged at 256 nodes x 40 operators), and the view keeps its height while
    findings come and go: each change of its height lays the whole screen out again (17 ms a
    frame there)."""

    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._blocks: dict[tuple, list[Strip]] = {}  # (suggestion's text, width) -> its lines
        self._height: tuple[int, int] = (0, 0)  # (width, most lines drawn at it)

    def render(self) -> Text:
        return Text("\n").join(self.blocks())

    def blocks(self) -> list[Text]:
        """The attach level's notes (when any), then one Text per suggestion shown."""
        head = Text(no_wrap=False, overflow="fold")
        self._attach_level(head)
        frame = self.frame
        if frame.empty or not frame.advice_available:
            if frame.advice_error:
                return [head.append(frame.advice_error, style="red")]
            return [head.append("nothing analysed yet", style="dim")]
        shown = self._shown()
        if not shown:
            return [head.append("no suggestions: nothing stands out right now", style="dim")]
        texts = [suggestion_text(s) for s in shown]
        if head.plain:
            texts[0] = head + texts[0]
        return texts

    def _shown(self) -> list[Suggestion]:
        ds = self.dataset
        ds_id = ds.dataset_id if ds else None
        return [s for s in self.frame.suggestions if s.dataset_id in (None, ds_id)]

    def draw(self, width: int) -> list[Strip]:
        drawn: dict[tuple, list[Strip]] = {}
        lines: list[Strip] = []
        for text in self.blocks():
            key = (text.plain, tuple(text.spans), width)
            drawn[key] = self._blocks.get(key) or self.strips(text, width)
            lines += drawn[key]
        self._blocks = drawn
        return self._keep_height(lines, width)

    def _keep_height(self, lines: list[Strip], width: int) -> list[Strip]:
        """``lines`` padded to the most lines drawn at this width, unless they are fewer than
        two thirds of that (then the panel shrinks): findings that come and go, or wrap to a
        line more or fewer, leave the screen's layout alone."""
        kept_width, most = self._height
        if kept_width != width or len(lines) < most * 2 / 3:
            most = 0
        most = max(most, len(lines))
        self._height = (width, most)
        return lines + [Strip.blank(width, self.rich_style)] * (most - len(lines))

    def _attach_level(self, text: Text) -> None:
        """For a dataset seen without the probe: what that level cannot show, and the way up."""
        ds = self.dataset
        if ds is None or ds.source == "probe" or not ds.notes:
            return
        for note in ds.notes:
            text.append(f"{note}\n", style="dim italic")
        driver = derive.driver_of(self.frame.snapshot, ds)
        if driver is not None and driver.level == "injectable":
            text.append("press i to load the probe into ", style="dim")
            text.append(f"pid {driver.pid}\n", style="bold cyan")
        elif driver is not None and driver.why:
            text.append(f"probe: {driver.why}\n", style="dim")
