"""Dataset rows: the rows that flowed through the pipeline's last real operator, stated as such."""

from raytop import dataset_rows
from raytop.model import OperatorStats


def _ops(*specs):
    return [OperatorStats(name, op_id=f"{name}_{i}", rows_out=rows,
                          physical_class="InputDataBuffer" if name == "Input" else None)
            for i, (name, rows) in enumerate(specs)]


def test_write_at_the_end_counts_the_rows_fed_into_it():
    ops = _ops(("Input", 3), ("MapBatches(Model)", 150_000), ("Write", 150))
    op, meaning = dataset_rows.pick(ops, dataset_rows.linear_upstream(ops))
    assert op.rows_out == 150_000
    assert meaning == "rows into the write (out of MapBatches(Model))"


def test_no_tail_counts_the_last_operator_as_taken_by_the_consumer():
    ops = _ops(("A", 10), ("B", 7))
    op, meaning = dataset_rows.pick(ops, dataset_rows.linear_upstream(ops))
    assert op.rows_out == 7 and meaning == "rows out of B, taken by the consumer"
    assert dataset_rows.pick([], lambda k: None) == (None, None)


def test_count_steps_over_aggregate_num_rows():
    # ds.count() on a union: ... -> Union -> Project -> AggregateNumRows (one row)
    ops = _ops(("Input", 3), ("M", 30_000), ("Input", 1), ("M", 5_000),
               ("UnionOperator(M, M)", 35_000), ("Project", 35_000), ("AggregateNumRows", 1))
    ups = {"M_1": "Input_0", "M_3": "Input_2", "UnionOperator(M, M)_4": "M_1",
           "Project_5": "UnionOperator(M, M)_4", "AggregateNumRows_6": "Project_5"}
    op, meaning = dataset_rows.pick(ops, ups.get)
    assert op.op_id == "Project_5" and op.rows_out == 35_000
    assert meaning == "rows into count() (out of Project)"


def test_aggregation_steps_over_its_shuffle_and_limit_but_a_users_limit_counts():
    ops = _ops(("Input", 6), ("ReadRange->MapBatches(slow)", 3000),
               ("HashAggregateMap(key_columns=())", 1), ("HashAggregateReduce(key_columns=())", 1),
               ("limit=1", 1))
    op, meaning = dataset_rows.pick(ops, dataset_rows.linear_upstream(ops))
    assert op.rows_out == 3000
    assert meaning.startswith("rows into the aggregation")
    take = _ops(("Input", 6), ("ReadRange", 3000), ("limit=10", 10))
    op, meaning = dataset_rows.pick(take, dataset_rows.linear_upstream(take))
    assert op.rows_out == 10 and "taken by the consumer" in meaning


def test_a_write_fused_with_its_read_says_what_its_rows_are():
    ops = _ops(("Input", 3), ("ReadRange->MapBatches(f)->Write", 3))
    op, meaning = dataset_rows.pick(ops, dataset_rows.linear_upstream(ops))
    assert op.op_id == "ReadRange->MapBatches(f)->Write_1"
    assert meaning.startswith("result rows of")
