"""Frame producers and the script watcher, all off the UI thread.

``LiveSink`` runs on the collector's thread; ``ReplayPlayer.run`` and ``JobWatcher.run`` run in the
app's thread workers (``@work(thread=True)``). They talk to the app only through ``post_message``
(thread-safe): ``FrameReady`` for frames, whichever produced them, ``JobUpdate`` and ``FeedError``.
"""

from __future__ import annotations

import bisect
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from textual.message import Message

from raytop.model import Event, Snapshot
from raytop.tui.frame import FrameBuilder, ReplayPosition
from raytop.tui.messages import FeedError, FrameReady, JobUpdate

log = logging.getLogger(__name__)

Post = Callable[[Message], object]
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
MAX_PLAY_WAIT_S = 1.0  # a long gap in the recording plays as at most this much wall time
REPLAY_HISTORY = 120  # snapshots loaded behind the position after a jump
JOB_OUTPUT_WAIT_S = 5.0  # once the script exited, how long its last output may take to arrive


class Job(Protocol):
    """The script of ``raytop run`` as the view sees it (``raytop.commands.script.ScriptJob``)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def log_lines(self, max_lines: int = 200) -> list[str]: ...

    def wait(self, timeout: float | None = None) -> int: ...


class Recording(Protocol):
    """What the replay reads (``raytop.recording.RecordingReader``)."""

    def times(self) -> Sequence[float]: ...

    def snapshot(self, i: int) -> Snapshot: ...

    def events(self) -> Sequence[Event]: ...

    def close(self) -> None: ...


class LiveSink:
    """A collector sink: called on the collector thread, posts one FrameReady per snapshot."""

    def __init__(self, post: Post):
        self._post = post
        self._builder = FrameBuilder()
        self._lock = threading.Lock()  # snapshot() and event() may come from different threads

    def snapshot(self, snap: Snapshot) -> None:
        with self._lock:
            frame = self._builder.frame(snap)
        self._post(FrameReady(frame))

    def event(self, ev: Event) -> None:
        with self._lock:
            self._builder.add_event(ev)


class JobWatcher:
    """Polls the job of ``raytop run`` for its log tail and exit code until it exits or ``stop``
    is set; the app runs it in a thread worker."""

    def __init__(self, job: Job, post: Post, *, interval: float = 0.5, max_lines: int = 500):
        self._job, self._post, self._interval, self._max = job, post, interval, max_lines

    def run(self, stop: threading.Event) -> None:
        last: tuple = ()
        while not stop.is_set():
            code, lines = self._read()
            if code is not None:
                # The exit code can come before the last lines: wait for the output to end (the
                # job's reader drains its pipe), then post the whole tail once, with the code.
                try:
                    self._job.wait(timeout=JOB_OUTPUT_WAIT_S)
                except Exception:
                    log.exception("waiting for the script's last output failed")
                self._post(JobUpdate(self._read()[1], code))
                return
            state = (len(lines), lines[-1] if lines else None)
            if state != last:
                self._post(JobUpdate(lines, None))
                last = state
            stop.wait(self._interval)

    def _read(self) -> tuple[int | None, list[str]]:
        try:
            return self._job.poll(), list(self._job.log_lines(self._max))
        except Exception as e:
            log.exception("job poll failed")
            return None, [f"[raytop] could not read the script's output: {e}"]


class ReplayPlayer:
    """Plays a recording: ``run`` reads it on the app's replay worker thread; commands arrive on a
    queue from the UI thread; every position is posted as a ``FrameReady``."""

    def __init__(self, reader: Recording, post: Post, *, play: bool = False):
        self._reader = reader
        self._post = post
        self._commands: queue.Queue[tuple] = queue.Queue()
        self._builder = FrameBuilder()
        self._times: list[float] = []
        self._index = 0
        self._playing = False
        self._play_at_start = play  # ``raytop replay --play``
        self._stopping = threading.Event()  # set by ``stop``: the opening scan gives up
        self._speed = 1.0
        self._cache: dict[int, Snapshot] = {}

    # -- commands, called from the UI thread (queue puts only) --------------------------
    def toggle_play(self) -> None:
        self._commands.put(("toggle",))

    def step(self, delta: int) -> None:
        self._commands.put(("step", delta))

    def seek_index(self, index: int) -> None:
        self._commands.put(("seek_index", index))

    def seek_offset(self, seconds_from_start: float) -> None:
        self._commands.put(("seek_offset", seconds_from_start))

    def seek_fraction(self, frac: float) -> None:
        self._commands.put(("seek_fraction", frac))

    def change_speed(self, direction: int) -> None:
        self._commands.put(("speed", direction))

    def stop(self) -> None:
        self._stopping.set()
        self._commands.put(("stop",))

    # -- player side, on the worker thread ---------------------------------------------
    def _snapshot(self, i: int) -> Snapshot:
        snap = self._cache.get(i)
        if snap is None:
            snap = self._reader.snapshot(i)
            if len(self._cache) > 4 * REPLAY_HISTORY:
                self._cache.clear()
            self._cache[i] = snap
        return snap

    def _position(self) -> ReplayPosition:
        return ReplayPosition(index=self._index, count=len(self._times),
                              t_start=self._times[0], t_end=self._times[-1],
                              playing=self._playing, speed=self._speed)

    def _emit(self, *, jumped: bool) -> None:
        if jumped:
            first = max(0, self._index - REPLAY_HISTORY + 1)
            snaps = [self._snapshot(i) for i in range(first, self._index + 1)]
            self._builder.reset(snaps[:-1])
            frame = self._builder.frame(snaps[-1], replay=self._position())
        else:
            frame = self._builder.frame(self._snapshot(self._index), replay=self._position())
        self._post(FrameReady(frame))

    def _go(self, index: int) -> None:
        index = max(0, min(len(self._times) - 1, index))
        if index == self._index:
            self._post_position_only()
            return
        forward_one = index == self._index + 1
        self._index = index
        self._emit(jumped=not forward_one)

    def _post_position_only(self) -> None:
        # same snapshot, new play state/speed: rebuild the frame without re-ingesting it
        self._post(FrameReady(self._builder.frame(self._snapshot(self._index), ingest=False,
                                                  replay=self._position())))

    def run(self) -> None:
        try:
            self._times = list(self._reader.times())
            if not self._times:
                self._post(FeedError("the recording holds no snapshots"))
                return
            self._builder.set_events(self._reader.events())
            self._index = self._opening_index()
            self._playing = self._play_at_start
            self._emit(jumped=True)  # the history up to the opening snapshot, for the timelines
            self._loop()
        except Exception as e:
            log.exception("replay failed")
            self._post(FeedError(f"cannot read the recording: {e}"))
        finally:
            try:
                self._reader.close()
            except Exception:  # noqa: BLE001 - a failed close must not hide how the replay ended
                pass

    def _opening_index(self) -> int:
        """Where the replay opens: the first snapshot in which a dataset is RUNNING (a recording
        starts before the job's first dataset does, and its first seconds show nothing); the
        first snapshot when no dataset ever runs. Read through the reader, not the player's
        cache, which the snapshots scanned past would only fill."""
        for i in range(len(self._times)):
            if self._stopping.is_set():
                break
            if any(ds.state == "RUNNING" for ds in self._reader.snapshot(i).datasets):
                return i
        return 0

    def _loop(self) -> None:
        while True:
            timeout = None
            if self._playing:
                if self._index >= len(self._times) - 1:
                    self._playing = False
                    self._post_position_only()
                    continue
                gap = self._times[self._index + 1] - self._times[self._index]
                timeout = max(0.0, min(MAX_PLAY_WAIT_S, gap / self._speed))
            try:
                cmd = self._commands.get(timeout=timeout)
            except queue.Empty:
                self._go(self._index + 1)
                continue
            if not self._handle(cmd):
                return

    def _handle(self, cmd: tuple) -> bool:
        kind = cmd[0]
        if kind == "stop":
            return False
        if kind == "toggle":
            if not self._playing and self._index >= len(self._times) - 1:
                self._index = -1  # play again from the start
                self._builder.reset()
                self._go(0)
            self._playing = not self._playing
            self._post_position_only()
        elif kind == "step":
            self._playing = False
            self._go(self._index + cmd[1])
        elif kind == "seek_index":
            self._go(cmd[1])
        elif kind == "seek_offset":
            self._go(self._index_at(self._times[0] + cmd[1]))
        elif kind == "seek_fraction":
            t = self._times[0] + (self._times[-1] - self._times[0]) * max(0.0, min(1.0, cmd[1]))
            self._go(self._index_at(t))
        elif kind == "speed":
            pos = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self._speed))
            self._speed = SPEEDS[max(0, min(len(SPEEDS) - 1, pos + cmd[1]))]
            self._post_position_only()
        return True

    def _index_at(self, t: float) -> int:
        return max(0, bisect.bisect_right(self._times, t) - 1)
