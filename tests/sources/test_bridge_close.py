"""Closing the bridge does not wait for a connect in progress: at the end of `raytop run` the
script's cluster is gone with the script, a source's read had just started a reconnect (30 s
timeout), and the close waited on it, so every `raytop run` (and every `raytop tune` trial) ended
up to 30 s after its script."""

from __future__ import annotations

import multiprocessing as mp
import threading

from raytop.sources.bridge import RayBridge


def test_a_connect_waiting_for_an_answer_gives_up_when_the_bridge_closes():
    bridge = RayBridge(None, [])
    quiet, _other_end = mp.Pipe()  # a bridge process that never answers
    answered: list[bool] = []
    waiting = threading.Thread(target=lambda: answered.append(bridge._answered(quiet, 30.0)))
    waiting.start()
    bridge.close()
    waiting.join(5.0)  # a bound on a hang, not a wait for a time to pass
    assert not waiting.is_alive(), "the connect still waits for its 30 s"
    assert answered == [False]


def test_an_answer_is_seen_while_not_closing():
    bridge = RayBridge(None, [])
    near, far = mp.Pipe()
    far.send(("connected", {}))
    assert bridge._answered(near, 30.0) is True
