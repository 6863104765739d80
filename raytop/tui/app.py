"""The raytop Textual app: the overview screen and the live / replay variants.

Frames arrive as ``FrameReady`` messages from a background thread; the UI thread only stores the
newest one and re-renders. Nothing here reads Ray, files or sockets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Log

from raytop.tui import derive
from raytop.tui.feeds import JobWatcher, LiveSink, ReplayWorker
from raytop.tui.frame import Frame
from raytop.tui.messages import FeedError, FrameReady, JobUpdate
from raytop.tui.operators_table import OperatorsTable
from raytop.tui.panels import AdviceView, GpuPanel, HeaderBar, MemoryPanel, SourceLine
from raytop.tui.scrubber import Scrubber
from raytop.tui.screens.detail import OperatorDetailScreen
from raytop.tui.screens.dialogs import ConfirmInject, DatasetPicker, GotoTime, HelpScreen
from raytop.tui.screens.plan import PlanScreen

NARROW_BELOW = 70
SHORT_BELOW = 30
TINY_BELOW = 20


class OpsTable(OperatorsTable):
    BINDINGS = [Binding("j", "cursor_down", "Down", show=False),
                Binding("k", "cursor_up", "Up", show=False)]


class OverviewScreen(Screen):
    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", show=False)]

    def __init__(self, *, with_log: bool, with_scrubber: bool) -> None:
        super().__init__()
        self.with_log, self.with_scrubber = with_log, with_scrubber

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        with Horizontal(id="top"):
            with VerticalScroll(id="gpu-box", classes="panel") as box:
                box.border_title = "GPU"
                yield GpuPanel(id="gpu")
            with VerticalScroll(id="memory-box", classes="panel") as box:
                box.border_title = "Memory"
                yield MemoryPanel(id="memory")
        table = OpsTable(id="operators", classes="panel")
        table.border_title = "Operators"
        yield table
        yield Input(placeholder="filter operators (Enter keeps, Esc clears)", id="filter")
        with Horizontal(id="bottom"):
            with VerticalScroll(id="advice-box", classes="panel") as box:
                box.border_title = "Advice"
                yield AdviceView(id="advice")
            if self.with_log:
                with VerticalScroll(id="log-box", classes="panel") as box:
                    box.border_title = "Script log"
                    yield Log(id="log", max_lines=2000)
        if self.with_scrubber:
            yield Scrubber(id="scrubber")
        yield SourceLine(id="sources")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OpsTable).focus()
        self._apply_size(self.app.size.width, self.app.size.height)
        app: RaytopApp = self.app  # type: ignore[assignment]
        app.update_mode()
        self.show_frame(app.frame)
        app.refresh_log()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        self.set_class(width < NARROW_BELOW, "narrow")
        self.set_class(height < SHORT_BELOW, "short")
        self.set_class(height < TINY_BELOW, "tiny")

    def on_screen_resume(self) -> None:
        self.show_frame(getattr(self.app, "frame", None))

    def show_frame(self, frame: Optional[Frame]) -> None:
        app: RaytopApp = self.app  # type: ignore[assignment]
        ds = derive.pick_dataset(frame.snapshot if frame else None, app.dataset_id)
        for panel in self.query("HeaderBar, GpuPanel, MemoryPanel, AdviceView, SourceLine"):
            panel.show(frame, ds)  # type: ignore[attr-defined]
        self.query_one(OpsTable).show(frame, ds)
        if self.with_scrubber:
            self.query_one(Scrubber).show(frame.replay if frame else None,
                                          frame.snapshot.t if frame else None)
        table = self.query_one(OpsTable)
        table.border_title = f"Operators — filter: {table.filter_text}" if table.filter_text else "Operators"
        bneck = derive.bottleneck(ds, frame)
        table.border_subtitle = f"bottleneck ▶ {bneck.operator}: {bneck.why}" if bneck else ""

    # -- operators ----------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        app: RaytopApp = self.app  # type: ignore[assignment]
        table = self.query_one(OpsTable)
        op = table.selected_operator()
        ds = derive.pick_dataset(app.frame.snapshot if app.frame else None, app.dataset_id)
        if op is not None and ds is not None:
            app.push_screen(OperatorDetailScreen(ds.dataset_id, op))

    def open_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.value = self.query_one(OpsTable).filter_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(OpsTable).filter_text = event.value
            self.show_frame(getattr(self.app, "frame", None))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.remove_class("visible")
            self.query_one(OpsTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        table = self.query_one(OpsTable)
        if box.has_class("visible") or table.filter_text:
            box.value = ""
            table.filter_text = ""
            box.remove_class("visible")
            table.focus()
            self.show_frame(getattr(self.app, "frame", None))

    def show_log(self, lines: list[str], title: str) -> None:
        if not self.with_log:
            return
        log = self.query_one(Log)
        log.clear()
        log.write_lines(lines)
        self.query_one("#log-box").border_title = title


class RaytopApp(App):
    """What live and replay share: frames in, screens out, the common keys."""

    CSS_PATH = "raytop.tcss"
    TITLE = "raytop"
    is_replay = False
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit", priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("l", "plan", "Plan"),
        Binding("d", "pick_dataset", "Dataset"),
        Binding("slash", "filter", "Filter"),
    ]

    def __init__(self, *, title: str, with_log: bool = False, with_scrubber: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.frame: Optional[Frame] = None
        self.dataset_id: Optional[str] = None
        self.frames_seen = 0
        self.mode = ("", "")
        self._overview = OverviewScreen(with_log=with_log, with_scrubber=with_scrubber)

    def get_default_screen(self) -> Screen:
        return self._overview

    @property
    def overview(self) -> OverviewScreen:
        return self._overview

    def set_mode(self, label: str, style: str) -> None:
        if self.mode != (label, style):
            self.mode = (label, style)
            for header in self._overview.query(HeaderBar):
                header.refresh(layout=True)

    def update_mode(self) -> None:
        """Subclasses set the header's mode badge."""

    def refresh_log(self) -> None:
        """Subclasses with a script log show it (again) here."""

    def on_frame_ready(self, message: FrameReady) -> None:
        self.frames_seen += 1
        self.receive_frame(message.frame)

    def receive_frame(self, frame: Frame) -> None:
        self.apply_frame(frame)

    def apply_frame(self, frame: Frame) -> None:
        self.frame = frame
        self.update_mode()
        screen = self.screen
        if hasattr(screen, "show_frame"):
            screen.show_frame(frame)  # type: ignore[attr-defined]

    def on_feed_error(self, message: FeedError) -> None:
        self.notify(message.text, severity="error", timeout=30)
        self.set_mode("ERROR", "bold red")

    def check_action(self, action: str, parameters: tuple) -> Optional[bool]:
        # while typing in an input (filter, go-to time) every key belongs to the input
        return not isinstance(self.focused, Input)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(replay=self.is_replay))

    def _on_overview(self) -> bool:
        return self.screen is self._overview

    def action_plan(self) -> None:
        if isinstance(self.screen, PlanScreen):
            return
        ds = derive.pick_dataset(self.frame.snapshot if self.frame else None, self.dataset_id)
        self.push_screen(PlanScreen(ds.dataset_id if ds else None))

    def action_pick_dataset(self) -> None:
        if not self._on_overview():
            return
        snap = self.frame.snapshot if self.frame else None
        if snap is None or len(snap.datasets) < 2:
            self.notify("only one dataset" if snap and snap.datasets else "no dataset yet")
            return

        def chosen(dataset_id: Optional[str]) -> None:
            if dataset_id:
                self.dataset_id = dataset_id
                self.overview.show_frame(self.frame)

        current = derive.pick_dataset(snap, self.dataset_id)
        self.push_screen(DatasetPicker(snap, current.dataset_id if current else None), chosen)

    def action_filter(self) -> None:
        if self._on_overview():
            self.overview.open_filter()


class LiveApp(RaytopApp):
    BINDINGS = [Binding("p", "pause", "Pause"), Binding("i", "inject", "Load probe", show=False)]

    def __init__(self, collector, *, title: str, address: Optional[str], job=None,
                 log_path: Optional[Path] = None, injector=None) -> None:
        super().__init__(title=title, with_log=job is not None)
        self.collector, self.address, self.job, self.log_path = collector, address, job, log_path
        self.injector = injector
        self.paused = False
        self._held: Optional[Frame] = None
        self.exit_code: Optional[int] = None
        self._watcher: Optional[JobWatcher] = None
        self._log: Optional[tuple[list[str], str]] = None

    def on_mount(self) -> None:
        self.collector.add_sink(LiveSink(self.post_message))
        self.collector.start()
        if self.job is not None:
            self._watcher = JobWatcher(self.job, self.post_message)
            self._watcher.start()

    def on_unmount(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def update_mode(self) -> None:
        frame = self.frame
        if self.paused:
            self.set_mode("PAUSED", "bold yellow")
        elif self.exit_code is not None:
            self.set_mode(f"SCRIPT EXITED {self.exit_code}",
                          "bold green" if self.exit_code == 0 else "bold red")
        elif frame is not None and not derive.cluster_connected(frame.snapshot):
            self.set_mode("DISCONNECTED", "bold yellow")
        else:
            self.set_mode("RUN" if self.job is not None else "LIVE", "bold green")

    def receive_frame(self, frame: Frame) -> None:
        if self.paused:
            self._held = frame
            return
        self.apply_frame(frame)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self._held is not None:
            frame, self._held = self._held, None
            self.apply_frame(frame)
        else:
            self.update_mode()

    def action_inject(self) -> None:
        snap = self.frame.snapshot if self.frame else None
        ds = derive.pick_dataset(snap, self.dataset_id)
        driver = derive.driver_of(snap, ds)
        if self.injector is None or snap is None:
            self.notify("loading the probe is for `raytop attach`")
        elif driver is None:
            self.notify("no driver known for this dataset yet")
        elif driver.level == "probe":
            self.notify(f"the probe already reports from pid {driver.pid}")
        elif driver.level != "injectable":
            self.notify(f"cannot load the probe into pid {driver.pid}: {driver.why}",
                        severity="warning", timeout=15)
        else:
            def answered(yes: Optional[bool]) -> None:
                if yes:
                    self.notify(f"loading the probe into pid {driver.pid}…")
                    self._inject(driver.pid)

            self.push_screen(ConfirmInject(driver), answered)

    @work(thread=True, exclusive=True, group="inject", exit_on_error=False)
    def _inject(self, pid: int) -> None:
        ev = self.injector.inject_now(pid)
        ok = ev.kind == "probe_injected"
        self.call_from_thread(self.notify, ev.message, severity="information" if ok else "error",
                              timeout=10 if ok else 20)

    def on_job_update(self, message: JobUpdate) -> None:
        pid = getattr(self.job, "pid", None)
        title = f"Script log (pid {pid})"
        if message.exit_code is not None:
            if self.exit_code is None:
                self.notify(f"the script exited with code {message.exit_code}; press q to quit",
                            severity="information" if message.exit_code == 0 else "error",
                            timeout=15)
            self.exit_code = message.exit_code
            title = f"Script exited with code {message.exit_code} — q quits"
            self.update_mode()
        if self.log_path is not None:
            title += f" — {self.log_path}"
        self._log = (message.lines, title)
        self.refresh_log()

    def refresh_log(self) -> None:
        if self._log is not None and self.overview.is_mounted:
            self.overview.show_log(*self._log)


class ReplayApp(RaytopApp):
    is_replay = True
    BINDINGS = [
        Binding("space", "toggle_play", "Play/pause"),
        Binding("p", "toggle_play", "Play", show=False),
        Binding("left", "step(-1)", "Back", priority=True),
        Binding("right", "step(1)", "Fwd", priority=True),
        Binding("left_square_bracket", "speed(-1)", "Slower"),
        Binding("right_square_bracket", "speed(1)", "Faster"),
        Binding("g", "goto", "Go to"),
        Binding("home", "seek_fraction(0)", "Start", show=False, priority=True),
        Binding("end", "seek_fraction(1)", "End", show=False, priority=True),
    ]

    def __init__(self, reader, *, title: str) -> None:
        super().__init__(title=title, with_scrubber=True)
        self.worker = ReplayWorker(reader, self.post_message)

    def on_mount(self) -> None:
        self.worker.start()

    def on_unmount(self) -> None:
        self.worker.stop()

    def update_mode(self) -> None:
        pos = self.frame.replay if self.frame else None
        self.set_mode("REPLAY ▶" if pos and pos.playing else "REPLAY", "bold magenta")

    def action_toggle_play(self) -> None:
        self.worker.toggle_play()

    def action_step(self, delta: int) -> None:
        self.worker.step(delta)

    def action_speed(self, direction: int) -> None:
        self.worker.change_speed(direction)

    def action_seek_fraction(self, frac: float) -> None:
        self.worker.seek_fraction(frac)

    def on_scrubber_seek(self, message: Scrubber.Seek) -> None:
        self.worker.seek_fraction(message.fraction)

    def action_goto(self) -> None:
        def chosen(seconds: Optional[float]) -> None:
            if seconds is not None:
                self.worker.seek_offset(seconds)

        self.push_screen(GotoTime(), chosen)
