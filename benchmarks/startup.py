"""Startup: `raytop replay` to its first frame and `raytop attach` to its first data.

Both run the real command line (``raytop.cli.main``) in a fresh process; the app class is swapped
for a subclass that runs Textual headless, prints the time once the first frame (replay) or the
first frame holding the cluster's nodes (attach) has been applied and refreshed, and exits. The
clock starts just before the process is spawned, so imports and connecting count.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import recording_size
from benchmarks.cluster import Cluster
from benchmarks.common import Measurement, child_env, median, skipped

GROUP = "startup"

_CHILD = r"""
import os, sys, time
import raytop.tui.app as tui_app

def first(base, wants):
    class First(base):
        CSS_PATH = os.path.join(os.path.dirname(tui_app.__file__), base.CSS_PATH)  # not relative to <string>
        _seen = False
        def apply_frame(self, frame):
            super().apply_frame(frame)
            if not self._seen and wants(frame):
                self._seen = True
                self.call_after_refresh(self._done)
        def _done(self):
            print("FIRST", time.time(), flush=True)
            self.exit()
        def run(self, *args, **kwargs):
            kwargs["headless"] = True
            return super().run(*args, **kwargs)
    return First

tui_app.ReplayApp = first(tui_app.ReplayApp, lambda f: True)
tui_app.LiveApp = first(tui_app.LiveApp, lambda f: bool(f.snapshot.nodes)
                        and f.snapshot.sources.get("cluster") == "ok")
from raytop.cli import main
main(sys.argv[1:])
"""


def _time_to_first(args: list[str], timeout: float) -> float | None:
    t0 = time.time()
    # The terminal's size, as a terminal would give it: with no terminal and no size, Textual's
    # headless driver made the replay of a one-hour recording handle Resize after Resize.
    p = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True,
                       timeout=timeout, env=child_env({"COLUMNS": "80", "LINES": "24"}))
    for line in p.stdout.splitlines():
        if line.startswith("FIRST "):
            return float(line.split()[1]) - t0
    return None


def replay_first_frame(quick: bool, tmp: Path) -> Measurement:
    seconds = 600 if quick else 3600
    rec = tmp / "startup.raytop"
    recording_size.measure(seconds, rec)
    runs = [_time_to_first(["replay", str(rec)], 120) for _ in range(1 if quick else 3)]
    ok = [r for r in runs if r is not None]
    label = "raytop replay to first frame (median)"
    if not ok:
        return skipped("startup_replay_s", GROUP, label, "s", 1.0, "replay never showed a frame")
    return Measurement("startup_replay_s", GROUP, label, "s", round(median(ok), 3), 1.0,
                       note=f"{seconds} snapshots; runs {', '.join(f'{r:.2f}' for r in ok)} s",
                       detail={"runs_s": ok, "snapshots": seconds})


def attach_first_data(quick: bool, cluster: Cluster) -> Measurement:
    label = "raytop attach to first data (median)"
    runs = [_time_to_first(["attach", "--address", cluster.address], 120)
            for _ in range(1 if quick else 3)]
    ok = [r for r in runs if r is not None]
    if not ok:
        return skipped("startup_attach_s", GROUP, label, "s", 2.0, "attach never showed cluster data")
    return Measurement("startup_attach_s", GROUP, label, "s", round(median(ok), 3), 2.0,
                       note=f"runs {', '.join(f'{r:.2f}' for r in ok)} s",
                       detail={"runs_s": ok})


def run(quick: bool, cluster: Cluster | None) -> list[Measurement]:
    with tempfile.TemporaryDirectory(prefix="raytop-bench-") as tmp:
        out = [replay_first_frame(quick, Path(tmp))]
    if cluster is None:
        out.append(skipped("startup_attach_s", GROUP, "raytop attach to first data (median)", "s",
                           2.0, "no Ray cluster could be started"))
    else:
        out.append(attach_first_data(quick, cluster))
    return out
