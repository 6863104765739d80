"""The raytop Textual apps: what live and replay share, and the two variants.

Data flow: a producer off the UI thread (the collector's ``LiveSink``, or the ``ReplayPlayer`` in
the replay worker) builds immutable frames and posts them as ``FrameReady``; ``apply_frame``
assigns the app's ``frame`` reactive (with ``mode``, inside ``batch_update``), and data binding
carries it to the screens and their widgets, whose watchers and ``render`` redraw. ``dataset_id``
(the dataset picked) flows the same way. Nothing here reads Ray, files or sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Input
from textual.worker import Worker, WorkerState, get_current_worker

from raytop.tui import derive
from raytop.tui.feeds import Job, JobWatcher, LiveSink, ReplayPlayer
from raytop.tui.frame import EMPTY_FRAME, Frame
from raytop.tui.messages import FeedError, FrameReady, JobUpdate, ProbeLoaded, StacksReady
from raytop.tui.nodes_table import NodesTable
from raytop.tui.operators_table import OperatorsTable
from raytop.tui.panels import Mode
from raytop.tui.row_table import RowTable
from raytop.tui.screens.detail import OperatorDetailScreen
from raytop.tui.screens.dialogs import ConfirmInject, DatasetPicker, GotoTime, HelpScreen, StacksScreen
from raytop.tui.screens.nodes import NodeDetailScreen, NodesScreen
from raytop.tui.screens.overview import OverviewScreen, ScriptLog
from raytop.tui.screens.plan import PlanScreen
from raytop.tui.scrubber import Scrubber


class RaytopApp(App):
    """What live and replay share: frames in, screens out, the common keys.

    ``frame`` (the frame shown), ``dataset_id`` (the dataset picked, None: the newest running one)
    and ``mode`` (the header's badge) are the state every screen draws from; subclasses say what
    the mode is (``view_mode``).
    """

    CSS_PATH = "raytop.tcss"
    TITLE = "raytop"
    is_replay = False
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit", priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("l", "plan", "Plan"),
        Binding("n", "nodes", "Nodes"),
        Binding("d", "pick_dataset", "Dataset"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "stacks", "Stacks", show=False),
    ]

    frame: var[Frame] = var(EMPTY_FRAME, init=False)
    dataset_id: var[str | None] = var(None, init=False)
    mode: var[Mode] = var(Mode(), init=False)
    feed_error: var[str | None] = var(None, init=False)

    def __init__(self, *, title: str, with_log: bool = False, with_scrubber: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.frames_seen = 0  # FrameReady messages handled (applied or, while paused, held)
        self.overview = OverviewScreen(title=title, with_log=with_log, with_scrubber=with_scrubber)

    def get_default_screen(self) -> Screen:
        return self.overview.data_bind(RaytopApp.frame, RaytopApp.dataset_id, RaytopApp.mode)

    # -- frames in ------------------------------------------------------------------------
    def on_frame_ready(self, message: FrameReady) -> None:
        self.frames_seen += 1
        self.receive_frame(message.frame)

    def receive_frame(self, frame: Frame) -> None:
        self.apply_frame(frame)

    def apply_frame(self, frame: Frame) -> None:
        """Show ``frame``: every bound screen and widget redraws, in one screen update."""
        with self.batch_update():
            self.frame = frame

    def watch_frame(self) -> None:
        self.update_mode()

    def watch_feed_error(self) -> None:
        self.update_mode()

    def update_mode(self) -> None:
        self.mode = Mode("ERROR", "bold red") if self.feed_error else self.view_mode()

    def view_mode(self) -> Mode:
        """The header's badge for the current state."""
        return Mode()

    def on_feed_error(self, message: FeedError) -> None:
        self.notify(message.text, severity="error", timeout=30)
        self.feed_error = message.text

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # the workers do not exit the app on error (exit_on_error=False): say what failed
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.group} failed: {event.worker.error}", severity="error",
                        timeout=30)

    # -- keys and screens -------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # while typing in an input (filter, go-to time) every key belongs to the input
        return not isinstance(self.focused, Input)

    def shown_dataset_id(self) -> str | None:
        ds = derive.pick_dataset(self.frame.snapshot, self.dataset_id)
        return ds.dataset_id if ds is not None else None

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(replay=self.is_replay))

    def action_plan(self) -> None:
        if not isinstance(self.screen, PlanScreen):
            self.push_screen(PlanScreen(self.shown_dataset_id()).data_bind(RaytopApp.frame))

    def action_nodes(self) -> None:
        if not isinstance(self.screen, NodesScreen):
            self.push_screen(NodesScreen().data_bind(RaytopApp.frame))

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        dataset_id = self.shown_dataset_id()
        if isinstance(event.table, NodesTable):
            self.push_screen(NodeDetailScreen(event.key).data_bind(RaytopApp.frame))
        elif isinstance(event.table, OperatorsTable) and dataset_id is not None:
            screen = OperatorDetailScreen(dataset_id, event.key)
            self.push_screen(screen.data_bind(RaytopApp.frame))

    def action_pick_dataset(self) -> None:
        if self.screen is not self.overview:
            return
        snap = self.frame.snapshot
        if len(snap.datasets) < 2:
            self.notify("only one dataset" if snap.datasets else "no dataset yet")
            return

        def chosen(dataset_id: str | None) -> None:
            if dataset_id:
                self.dataset_id = dataset_id

        self.push_screen(DatasetPicker(snap, self.shown_dataset_id()), chosen)

    def action_filter(self) -> None:
        if self.screen is self.overview:
            self.overview.open_filter()

    # -- stacks of an operator's workers ------------------------------------------------------
    def chosen_operator(self) -> str | None:
        """The label of the operator ``s`` is about: the one under the overview's cursor, or the
        one of the detail screen shown; None elsewhere."""
        snap = self.frame.snapshot
        if isinstance(self.screen, OperatorDetailScreen):
            return derive.label_of(snap.dataset(self.screen.dataset_id), self.screen.op_key)
        if self.screen is not self.overview:
            return None
        key = self.overview.query_one(OperatorsTable).selected_operator()
        if key is None:
            return None
        return derive.label_of(derive.pick_dataset(snap, self.dataset_id), key)

    def action_stacks(self) -> None:
        operator = self.chosen_operator()
        if operator is not None:
            self.show_stacks(operator)
        elif self.screen is self.overview:
            self.notify("no operator to take the stacks of yet")

    def show_stacks(self, operator: str) -> None:
        """Collect and show the stacks of ``operator``'s busiest workers (subclasses)."""
        self.notify("stacks need a live job (raytop attach or raytop run)")


class LiveApp(RaytopApp):
    BINDINGS = [Binding("p", "pause", "Pause"), Binding("i", "inject", "Load probe", show=False),
                Binding("s", "stacks", "Stacks")]

    paused: var[bool] = var(False, init=False)  # the view holds still; collection goes on
    exit_code: var[int | None] = var(None, init=False)  # the script's, once it exited
    script_log: var[ScriptLog | None] = var(None, init=False)

    def __init__(self, collector, *, title: str, address: str | None, job: Job | None = None,
                 log_path: Path | None = None, injector=None,
                 stacks: Callable[[str], str] | None = None) -> None:
        super().__init__(title=title, with_log=job is not None)
        self.collector, self.address, self.job, self.log_path = collector, address, job, log_path
        self.injector = injector
        # operator label -> the text of its workers' stacks; raises with one line when there are
        # none (``raytop.commands.stacks.view_stacks``); called on the stacks worker's thread
        self.stacks = stacks
        self._held: Frame | None = None  # the newest frame that came while paused

    def get_default_screen(self) -> Screen:
        return super().get_default_screen().data_bind(LiveApp.script_log)

    def on_mount(self) -> None:
        self.update_mode()
        self.collector.add_sink(LiveSink(self.post_message))
        self.collector.start()
        if self.job is not None:
            self._follow_job()

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "job")

    @work(thread=True, exclusive=True, group="job", exit_on_error=False)
    def _follow_job(self) -> None:
        assert self.job is not None
        JobWatcher(self.job, self.post_message).run(get_current_worker().cancelled_event)

    def view_mode(self) -> Mode:
        if self.paused:
            return Mode("PAUSED", "bold yellow")
        if self.exit_code is not None:
            return Mode(f"SCRIPT EXITED {self.exit_code}",
                        "bold green" if self.exit_code == 0 else "bold red")
        if not self.frame.empty and not derive.cluster_connected(self.frame.snapshot):
            return Mode("DISCONNECTED", "bold yellow")
        return Mode("RUN" if self.job is not None else "LIVE", "bold green")

    def watch_paused(self) -> None:
        self.update_mode()

    def watch_exit_code(self) -> None:
        self.update_mode()

    def receive_frame(self, frame: Frame) -> None:
        if self.paused:
            self._held = frame
        else:
            self.apply_frame(frame)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self._held is not None:
            frame, self._held = self._held, None
            self.apply_frame(frame)

    def action_inject(self) -> None:
        snap = self.frame.snapshot
        driver = derive.driver_of(snap, derive.pick_dataset(snap, self.dataset_id))
        if self.injector is None or self.frame.empty:
            self.notify("loading the probe is for `raytop attach`")
        elif driver is None:
            self.notify("no driver known for this dataset yet")
        elif driver.level == "probe":
            self.notify(f"the probe already reports from pid {driver.pid}")
        elif driver.level != "injectable":
            self.notify(f"cannot load the probe into pid {driver.pid}: {driver.why}",
                        severity="warning", timeout=15)
        else:
            pid = driver.pid

            def answered(yes: bool | None) -> None:
                if yes:
                    self.notify(f"loading the probe into pid {pid}…")
                    self._inject(pid)

            self.push_screen(ConfirmInject(driver), answered)

    @work(thread=True, exclusive=True, group="inject", exit_on_error=False)
    def _inject(self, pid: int) -> None:
        ev = self.injector.inject_now(pid)
        self.post_message(ProbeLoaded(ev.kind == "probe_injected", ev.message))

    def show_stacks(self, operator: str) -> None:
        if self.stacks is None:
            self.notify("stacks are not available in this view")
            return
        self.notify(f"collecting the stacks of {operator} (py-spy)…", timeout=5, markup=False)
        self._collect_stacks(operator)

    @work(thread=True, exclusive=True, group="stacks", exit_on_error=False)
    def _collect_stacks(self, operator: str) -> None:
        """Runs ``self.stacks`` off the UI thread (py-spy takes seconds); a newer ``s`` cancels
        this one, whose answer is then dropped."""
        assert self.stacks is not None
        try:
            text, error = self.stacks(operator), None
        except Exception as e:  # noqa: BLE001 - whatever failed is said in one line
            text, error = None, (str(e).strip().splitlines() or [type(e).__name__])[0]
        if not get_current_worker().is_cancelled:
            self.post_message(StacksReady(operator, text, error))

    def on_stacks_ready(self, message: StacksReady) -> None:
        if message.error is not None or message.text is None:
            # markup=False: the reason is py-spy's or raytop's words ("raytop[stacks]", paths)
            self.notify(f"no stacks of {message.operator}: {message.error}", severity="warning",
                        timeout=20, markup=False)
        else:
            self.push_screen(StacksScreen(message.operator, message.text))

    def on_probe_loaded(self, message: ProbeLoaded) -> None:
        self.notify(message.text, severity="information" if message.ok else "error",
                    timeout=10 if message.ok else 20)

    def on_job_update(self, message: JobUpdate) -> None:
        title = f"Script log (pid {self.job.pid if self.job is not None else '?'})"
        if message.exit_code is not None:
            if self.exit_code is None:
                self.notify(f"the script exited with code {message.exit_code}; press q to quit",
                            severity="information" if message.exit_code == 0 else "error",
                            timeout=15)
            self.exit_code = message.exit_code
            title = f"Script exited with code {message.exit_code} — q quits"
        if self.log_path is not None:
            title += f" — {self.log_path}"
        self.script_log = ScriptLog(tuple(message.lines), title)


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

    def __init__(self, reader, *, title: str, play: bool = False) -> None:
        """Opens on the first snapshot with a running dataset; ``play``: playing from there."""
        super().__init__(title=title, with_scrubber=True)
        self.player = ReplayPlayer(reader, self.post_message, play=play)

    def on_mount(self) -> None:
        self.update_mode()
        self._play()

    def on_unmount(self) -> None:
        self.player.stop()

    @work(thread=True, exclusive=True, group="replay", exit_on_error=False)
    def _play(self) -> None:
        self.player.run()

    def view_mode(self) -> Mode:
        pos = self.frame.replay
        return Mode("REPLAY ▶" if pos and pos.playing else "REPLAY", "bold magenta")

    def action_toggle_play(self) -> None:
        self.player.toggle_play()

    def action_step(self, delta: int) -> None:
        self.player.step(delta)

    def action_speed(self, direction: int) -> None:
        self.player.change_speed(direction)

    def action_seek_fraction(self, frac: float) -> None:
        self.player.seek_fraction(frac)

    def on_scrubber_seek(self, message: Scrubber.Seek) -> None:
        self.player.seek_fraction(message.fraction)

    def action_goto(self) -> None:
        def chosen(seconds: float | None) -> None:
            if seconds is not None:
                self.player.seek_offset(seconds)

        self.push_screen(GotoTime(), chosen)
