"""Dataset rows for a pipeline that ends in a write: the rows written, not the write's result rows."""

from raytop.model import OperatorStats
from raytop.sources.ray_adapter import _rows_operator


class Write:  # stands in for Ray's logical Write operator (matched by class name)
    pass


class MapBatches:
    pass


class FakeOp:
    def __init__(self, *logical):
        self._logical_operators = [cls() for cls in logical]


def test_write_at_the_end_counts_the_rows_fed_into_it():
    ops = [FakeOp(MapBatches), FakeOp(Write)]
    stats = [OperatorStats("MapBatches(Model)", rows_out=150_000), OperatorStats("Write", rows_out=150)]
    assert _rows_operator(ops, stats).rows_out == 150_000


def test_no_write_counts_the_last_operator():
    ops = [FakeOp(MapBatches), FakeOp(MapBatches)]
    stats = [OperatorStats("A", rows_out=10), OperatorStats("B", rows_out=7)]
    assert _rows_operator(ops, stats).rows_out == 7
    assert _rows_operator([], []) is None
