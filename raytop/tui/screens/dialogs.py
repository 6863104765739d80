"""Small modal screens: help, dataset picker, go to a time, confirm loading the probe."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from raytop.format import NA, fmt_count, parse_duration
from raytop.model import DriverInfo, Snapshot

KEYS_COMMON = (
    ("↑ ↓  j k", "move in the operators table"),
    ("Enter", "operator detail (timelines)"),
    ("Esc", "back / close"),
    ("Tab  Shift+Tab", "next / previous panel"),
    ("l", "plan: logical → physical operators, why not fused"),
    ("n", "nodes: every node, most in trouble first (o O sort; Enter: its GPUs, operators)"),
    ("d", "pick a dataset (when there are several)"),
    ("/", "filter operators by name (Esc clears)"),
    ("o  O", "sort by the next column / reverse it"),
    ("?", "this help"),
    ("q", "quit"),
)
KEYS_LIVE = (("p", "pause / resume the view (collection goes on)"),
             ("i", "load raytop's probe into the dataset's driver (asks first)"),
             ("s", "Python stacks of the operator's busiest workers (py-spy)"))
KEYS_REPLAY = (
    ("Space  p", "play / pause"),
    ("← →", "step one snapshot back / forward"),
    ("[ ]", "slower / faster"),
    ("g", "go to a time (seconds, m:ss or h:mm:ss from the start)"),
    ("Home End", "first / last snapshot"),
    ("click scrubber", "seek there"),
    ("s", "stacks need a live job (raytop attach)"),
)
LEGEND = ("backpressure: tasks(budget|cap|downstream) = task submission held by the "
          "ResourceBudget / ConcurrencyCap / DownstreamCapacity policy; out(...) = outputs held. "
          "▶ marks the bottleneck: the operator with the most input blocks waiting that is not "
          "held by its downstream. Run = tasks running; Actors = running/pending/idle; "
          "In q / Out q = blocks·bytes waiting; – means not readable. Sorted (o, O, or a click "
          "on a column's header), operators go largest first, those with no value last; after "
          "the last column, in the plan's order again.")


def help_text(replay: bool) -> Text:
    text = Text()
    for keys, what in KEYS_COMMON + (KEYS_REPLAY if replay else KEYS_LIVE):
        text.append(f"{keys:<16}", style="bold cyan")
        text.append(f"{what}\n")
    text.append("\n" + LEGEND, style="dim")
    return text


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, replay: bool) -> None:
        super().__init__()
        self.replay = replay

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog"):
            yield Static(Text("Keys", style="bold"), classes="dialog-title")
            with VerticalScroll():
                yield Static(help_text(self.replay))


class DatasetPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(self, snap: Snapshot | None, current: str | None) -> None:
        super().__init__()
        self.snap, self.current = snap, current

    def compose(self) -> ComposeResult:
        options = []
        for ds in (self.snap.datasets if self.snap else ()):
            label = Text(f"{ds.dataset_id}  ", style="bold")
            label.append(f"{ds.state or NA}  {len(ds.operators)} operators  "
                         f"{fmt_count(ds.rows_out)} rows", style="dim")
            options.append(Option(label, id=ds.dataset_id))
        with Vertical(id="picker-box", classes="dialog"):
            yield Static(Text("Pick a dataset", style="bold"), classes="dialog-title")
            if options:
                yield OptionList(*options, id="datasets")
            else:
                yield Static("no dataset in this snapshot")

    def on_mount(self) -> None:
        if self.current and self.snap:
            ids = [d.dataset_id for d in self.snap.datasets]
            if self.current in ids:
                self.query_one(OptionList).highlighted = ids.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class GotoTime(ModalScreen[float | None]):
    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-box", classes="dialog"):
            yield Static(Text("Go to time from the start (90, 1:30, 1:02:03, 2m)", style="bold"),
                         classes="dialog-title")
            yield Input(placeholder="time", id="goto-input")
            yield Static("", id="goto-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_duration(event.value))
        except ValueError:
            self.query_one("#goto-error", Static).update(
                Text(f"not a time: {event.value!r}", style="red"))


def inject_explanation(driver: DriverInfo) -> Text:
    text = Text()
    text.append(f"Load raytop's probe into pid {driver.pid}?\n", style="bold")
    if driver.entrypoint:
        text.append(f"{driver.entrypoint}\n\n", style="dim")
    text.append(
        "gdb attaches to the driver for about a second (it pauses while gdb reads its symbols), "
        "queues a one-line loader that Python runs in its main thread between two bytecodes, and "
        "detaches. The loader starts a thread that registers a read-only ExecutionCallback with "
        "the running and future Ray Data executions of this driver. It reads what `raytop run` "
        "reads (plan, fusion, per-second queues and backpressure policies), changes nothing, "
        "never raises into the job, and goes quiet about 10 s after raytop leaves.\n\n")
    text.append("y", style="bold cyan")
    text.append(" load it    ")
    text.append("n / Esc", style="bold cyan")
    text.append(" cancel")
    return text


class ConfirmInject(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Load"), Binding("n,escape", "answer(False)", "Cancel")]

    def __init__(self, driver: DriverInfo) -> None:
        super().__init__()
        self.driver = driver

    def compose(self) -> ComposeResult:
        with Vertical(id="inject-box", classes="dialog"):
            yield Static(Text("Load the probe", style="bold"), classes="dialog-title")
            yield Static(inject_explanation(self.driver))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class StacksScreen(ModalScreen):
    """The Python stacks of an operator's busiest workers (the ``s`` key), as `raytop stacks`
    prints them; scrolls."""

    BINDINGS = [Binding("escape,q,s", "dismiss", "Close")]

    def __init__(self, operator: str, text: str) -> None:
        super().__init__()
        self.operator, self.text = operator, text

    def compose(self) -> ComposeResult:
        with Vertical(id="stacks-box", classes="dialog"):
            title = Text(f"Stacks of {self.operator}", style="bold")
            title.append("  (py-spy; ↑ ↓ PgUp PgDn scroll, Esc closes)", style="dim")
            yield Static(title, classes="dialog-title")
            with VerticalScroll(id="stacks-scroll"):
                yield Static(Text(self.text, no_wrap=True), id="stacks-text")

    def on_mount(self) -> None:
        self.query_one("#stacks-scroll").focus()
