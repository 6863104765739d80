"""The live view of `raytop tune`: which trial runs, what it changes, its rows/s so far, the
trials so far and each round's verdict.

Data flow, as in the main app: the tuner runs off the UI thread and, after every change, posts
the frozen ``TuneView`` it built (``TuneUpdate``); the app assigns it to its ``view`` reactive and
data binding carries it to the widgets, whose ``render`` draws it. Nothing here runs trials or
reads files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive, var
from textual.widgets import Footer, Static

from raytop.tuning.progress import TrialRow, TuneProgress, TuneView, rate_text
from raytop.tuning.tune import TuneOptions, Tuner, TuneResult, TuneStopped


class TuneUpdate(Message):
    """The tune's state after a change; consecutive pending ones collapse into the newest."""

    def __init__(self, view: TuneView) -> None:
        super().__init__()
        self.view = view

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TuneUpdate)


class TuneFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class NowPanel(Static):
    """The step, the change under test, and the running trial."""

    view: reactive[TuneView | None] = reactive(None)

    def render(self) -> RenderableType:
        v = self.view
        if v is None:
            return Text("starting…")
        lines = [Text.assemble(("step: ", "bold"), v.step),
                 Text.assemble(("change under test: ", "bold"), v.changed)]
        cur = v.current
        if cur is not None:
            elapsed = "" if cur.elapsed_s is None else f", {cur.elapsed_s:.0f} s"
            lines.append(Text.assemble(("running: ", "bold"), f"trial {cur.n} ({cur.label}{elapsed})"
                                       f": {rate_text(cur.rows_per_s)} so far"))
        elif v.done:
            lines.append(Text("done: press q for the changes to make", style="bold green"))
        return Text("\n").join(lines)


def _trial_cells(t: TrialRow) -> tuple[str, str, str, str, str]:
    state = "running" if t.running else t.ending or ""
    rate = rate_text(t.rows_per_s) + (" so far" if t.running and t.rows_per_s is not None else "")
    gpu = "" if t.gpu_util is None else f"{t.gpu_util:.0f} %"
    return str(t.n), t.label, rate, gpu, state


class TrialsPanel(Static):
    """Every trial so far, then every verdict."""

    view: reactive[TuneView | None] = reactive(None)

    def render(self) -> RenderableType:
        table = Table(expand=True, box=None, header_style="bold")
        for name, justify in (("#", "right"), ("configuration", "left"), ("rows/s", "right"),
                              ("GPU", "right"), ("state", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        v = self.view
        for t in (v.trials if v is not None else ()):
            table.add_row(*_trial_cells(t))
        verdicts = [Text(line, style="green" if line.startswith("kept") else "")
                    for line in (v.verdicts if v is not None else ())]
        return Group(table, Text(""), *verdicts)


class TuneApp(App):
    CSS = """
    NowPanel { height: auto; border: round $primary-darken-2; padding: 0 1; }
    TrialsPanel { height: 1fr; border: round $primary-darken-2; padding: 0 1; }
    """
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("q", "quit", "Quit (stops the running trial)", priority=True)]

    view: var[TuneView | None] = var(None, init=False)

    def __init__(self, title: str, start: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.title = title
        self._start = start
        self.failure: str | None = None

    def compose(self) -> ComposeResult:
        yield NowPanel(id="now").data_bind(TuneApp.view)
        yield TrialsPanel(id="trials").data_bind(TuneApp.view)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(NowPanel).border_title = self.title
        if self._start is not None:
            self._start()

    def on_tune_update(self, message: TuneUpdate) -> None:
        self.view = message.view

    def on_tune_failed(self, message: TuneFailed) -> None:
        self.failure = message.text
        self.notify(message.text, severity="error", timeout=60)


def tune_app(opts: TuneOptions, title: str
             ) -> tuple[TuneApp, Callable[[], TuneResult | None]]:
    """The live view, its tune started in a thread once the view is up, and what to call once
    the view has closed: the tune's result, or None when it was closed before the tune finished
    (the running trial is stopped); the tune's own error raised again."""
    stop = threading.Event()
    outcome: dict[str, TuneResult] = {}
    failed: list[BaseException] = []

    def post(view: TuneView, _line: str) -> None:
        app.post_message(TuneUpdate(view))

    def work() -> None:
        progress = TuneProgress(opts.script.name, post)
        try:
            outcome["result"] = Tuner(opts, progress, stop).run()
        except TuneStopped:
            pass
        except Exception as e:  # noqa: BLE001 - said in the view; raised again once it closes
            failed.append(e)
            app.post_message(TuneFailed(f"raytop tune failed: {type(e).__name__}: {e}"))

    thread = threading.Thread(target=work, name="raytop-tune", daemon=True)
    app = TuneApp(title, start=thread.start)

    def finish() -> TuneResult | None:
        stop.set()
        if thread.is_alive() or thread.ident is not None:
            thread.join()
        if failed:
            raise failed[0]
        return outcome.get("result")
    return app, finish


def run_tune_view(opts: TuneOptions, title: str) -> TuneResult | None:
    app, finish = tune_app(opts, title)
    app.run()
    return finish()
