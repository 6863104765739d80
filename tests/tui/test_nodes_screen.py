"""The node screen (``n``) and the overview's node panels at 1,000 simulated nodes."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from benchmarks.node_sim import ClusterSim
from raytop.model import GpuProcess
from raytop.tui.app import RaytopApp
from raytop.tui.frame import FrameBuilder
from raytop.tui.messages import FrameReady
from raytop.tui.nodes_table import NodesTable
from raytop.tui.panels import GpuPanel, MemoryPanel
from raytop.tui.screens.nodes import NodeDetailScreen, NodesScreen
from tests.tui.helpers import replay_app, sync, text_of, wait_for

DEAD_AT = 637  # a node in the middle of the table: dead while it still holds its workers
IDLE_AT = 412  # a node whose GPU 5 idles with its memory held


@lru_cache(maxsize=1)
def cluster_frame():
    """A frame of ClusterSim(1000)'s first snapshot, two nodes put in trouble."""
    snap = ClusterSim(1000).snapshot(0)
    nodes = list(snap.nodes)
    nodes[DEAD_AT] = dataclasses.replace(nodes[DEAD_AT], alive=False)
    idle = nodes[IDLE_AT]
    gpus = list(idle.gpus)
    gpus[5] = dataclasses.replace(gpus[5], util_percent=0.0, mem_used_bytes=79 << 30,
                                  processes=(GpuProcess(pid=1, gpu_mem_bytes=78 << 30,
                                                        operator="MapBatches(Model)"),))
    nodes[IDLE_AT] = dataclasses.replace(idle, gpus=tuple(gpus))
    return FrameBuilder().frame(dataclasses.replace(snap, nodes=tuple(nodes)))


async def _show(pilot, frame) -> None:
    app = pilot.app
    seen = app.frames_seen
    app.post_message(FrameReady(frame))
    await wait_for(pilot, lambda: app.frames_seen == seen + 1)


def _visible_text(table: NodesTable) -> str:
    return "\n".join(table.render_line(y).text for y in range(table.scrollable_content_region.height))


@sync
async def test_overview_panels_list_the_nodes_most_in_trouble_first():
    frame = cluster_frame()
    nodes = frame.snapshot.nodes
    app = RaytopApp(title="nodes")
    async with app.run_test(size=(200, 50)) as pilot:
        await _show(pilot, frame)
        memory = text_of(app.screen.query_one(MemoryPanel)).splitlines()
        assert memory[0].startswith(nodes[DEAD_AT].ip) and "(dead)" in memory[0]
        assert memory[8].startswith("… 992 more nodes: store ")
        assert "n lists them all" in memory[8]
        gpu = text_of(app.screen.query_one(GpuPanel)).splitlines()
        assert gpu[0].startswith(nodes[IDLE_AT].ip + " 8 GPUs")
        assert gpu[8].startswith("… 992 more nodes; all 8000 GPUs average")


async def _open_nodes(pilot, app) -> NodesTable:
    """``n``, until the node screen is up; its table."""
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, NodesScreen))
    return app.screen.query_one(NodesTable)


@sync
async def test_node_screen_lists_1000_nodes_worst_first_scrolls_and_drills_in():
    frame = cluster_frame()
    nodes = frame.snapshot.nodes
    app = RaytopApp(title="nodes")
    async with app.run_test(size=(200, 40)) as pilot:
        await _show(pilot, frame)
        table = await _open_nodes(pilot, app)
        await wait_for(pilot, lambda: table.row_count == 1000)
        assert table.keys[0] == nodes[DEAD_AT].node_id
        top = _visible_text(table)
        assert "dead holding work, 10 workers" in top.splitlines()[1]
        assert nodes[999].ip not in top
        await pilot.press("end")
        await wait_for(pilot, lambda: table.scroll_y == table.max_scroll_y > 0)
        last = next(n for n in nodes if n.node_id == table.keys[-1])
        assert table.selected_key() == table.keys[-1]
        assert last.ip in _visible_text(table).splitlines()[-1]
        await pilot.press("home", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NodeDetailScreen))
        assert app.screen.node_id == nodes[DEAD_AT].node_id
        info = text_of(app.screen.query_one("#node-info"))
        assert info.startswith("dead")
        assert "GPU7 " in info and "pid " in info and "heap by operator" in info
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, NodesScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.overview)


@sync
async def test_node_screen_sorts_by_column_and_keeps_the_cursor_on_its_node():
    frame = cluster_frame()
    nodes = frame.snapshot.nodes
    app = RaytopApp(title="nodes")
    async with app.run_test(size=(200, 40)) as pilot:
        await _show(pilot, frame)
        table = await _open_nodes(pilot, app)
        await pilot.press("down")
        chosen = table.selected_key()
        await pilot.press("o")  # by the node's address, A to Z
        await wait_for(pilot, lambda: table.sort.column == "Node")
        by_ip = sorted(nodes, key=lambda n: n.ip)
        assert table.keys[0] == by_ip[0].node_id and table.selected_key() == chosen
        await pilot.press("O")
        await wait_for(pilot, lambda: table.sort.descending)
        assert table.keys[0] == by_ip[-1].node_id
        assert "by node" in text_of(app.screen.query_one("#nodes-title"))


@sync
async def test_replay_opens_the_node_screen_of_its_recording():
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: not app.frame.empty)
        table = await _open_nodes(pilot, app)
        await wait_for(pilot, lambda: table.row_count == len(app.frame.snapshot.nodes) > 0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NodeDetailScreen))
        assert "heap by operator" in text_of(app.screen.query_one("#node-info"))
