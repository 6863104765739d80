"""A Write operator outputs one result row per written block: its rows/s are the rows it
received (``OperatorStats.rows_processed``), in the TUI, the report and the probe-free source."""

from __future__ import annotations

from raytop.model import DatasetStats, OperatorStats, Snapshot
from raytop.report.history import History
from raytop.report.summary import aggregate
from raytop.sources.stats import _rows_series
from raytop.tui import derive


def _write(rows_in, rows_out, name="Write"):
    return OperatorStats(name=name, op_id=f"{name}_2", compute="task", rows_in=rows_in,
                         rows_out=rows_out)


def test_rows_processed_is_the_input_of_a_write_only():
    assert _write(3000, 3).rows_processed == 3000
    assert _write(3000, 3, name="ReadRange->MapBatches(f)->Write").rows_processed == 3000
    assert _write(None, 3).rows_processed == 3  # no reading of its input: what it output
    assert OperatorStats(name="MapBatches(f)", rows_in=10, rows_out=7).rows_processed == 7


def _history():
    return [Snapshot(t=100.0 + i, datasets=(DatasetStats(
        dataset_id="d", state="RUNNING", start_time=100.0,
        operators=(_write(1000 * i, i),)),)) for i in range(6)]


def test_tui_rate_of_a_write_is_rows_written_per_second():
    assert derive.op_rate(_history(), "d", "Write_2") == 1000.0


def test_report_rate_of_a_write_is_rows_written_per_second():
    (op,) = aggregate(History(snapshots=tuple(_history()))).operators
    assert op["rows_out"] == 5 and op["rows_per_s"] == 1000.0


def test_probe_free_rate_follows_the_rows_into_a_write():
    assert _rows_series({"name": "Write"}) == "ray_data_num_row_inputs_received"
    assert _rows_series({"name": "MapBatches(f)"}) == "ray_data_row_outputs_taken"
