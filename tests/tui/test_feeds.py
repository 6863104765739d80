"""The producers off the UI thread, without an app: what they post."""

from __future__ import annotations

import threading

from raytop.tui.feeds import JobWatcher


class ExitedJob:
    """A script that has exited while its output reader has not drained the pipe yet: the last
    line arrives once ``wait`` joins the reader (as ``ScriptJob.wait`` does)."""

    pid = 4242

    def __init__(self) -> None:
        self.lines = ["hello"]

    def poll(self):
        return 3

    def log_lines(self, max_lines: int = 200) -> list:
        return list(self.lines)[-max_lines:]

    def wait(self, timeout=None) -> int:
        self.lines.append("oops")
        return 3


def test_job_watcher_posts_the_last_lines_with_the_exit_code():
    posted = []
    JobWatcher(ExitedJob(), posted.append).run(threading.Event())
    assert [(m.lines, m.exit_code) for m in posted] == [(["hello", "oops"], 3)]
