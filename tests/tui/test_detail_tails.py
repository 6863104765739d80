"""The operator detail's percentile line: N/A when unread, the figures and the slow task's node
when read."""

from __future__ import annotations

from raytop.format import NA
from raytop.tails import OperatorTails, Percentiles, SlowTask
from raytop.tui.screens.detail import tails_text


def test_unread_percentiles_read_na_not_zero():
    text = tails_text(None, {}).plain
    assert text.startswith(f"p50/p90/p99 task {NA}  block {NA}  rows {NA}")
    assert "running longest" not in text
    empty = OperatorTails(task_s=Percentiles(count=0), slow_tasks=())
    assert f"task {NA} " in tails_text(empty, {}).plain


def test_percentiles_and_the_longest_running_task_with_its_node():
    tails = OperatorTails(task_s=Percentiles(0.2, 0.4, 9.4, 40),
                          block_bytes=Percentiles(4096, 8192, 65536, 40),
                          slow_tasks=(SlowTask(age_s=13.0, running_s=12.5, node_id="ab" * 28,
                                               worker_pid=7, task_index=4),))
    text = tails_text(tails, {"ab" * 28: "10.0.0.7"}).plain
    assert "task 200 ms / 400 ms / 9.40 s  block 4.0K / 8.0K / 64.0K  rows –" in text
    assert "running longest task 4 12.5 s on 10.0.0.7" in text
