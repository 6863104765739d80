"""The consumer's loop: consumer-bound when its own code is the slow part, the pipeline's
bottleneck when it mostly waits."""

from raytop.analysis.advisor import advise
from raytop.analysis.bottleneck import find_bottleneck
from raytop.analysis.consumer import consumer_bound, consumer_span, consumer_summary
from raytop.analysis.window import Window

from . import scenarios as sc


def _running(hist):
    return Window(tuple(hist), {}).running("ds_1")


def test_consumer_span_is_the_change_over_the_window():
    span = consumer_span(_running(sc.consumer_bound(11)))
    assert round(span.user_s, 3) == 9.0 and round(span.blocked_s, 3) == 0.5 and span.batches == 20
    assert round(span.user_share, 3) == round(9 / 9.5, 3)
    assert consumer_span(_running(sc.pool_undersized(10))) is None  # nothing iterates


def test_consumer_bound_names_the_loop_and_no_operator():
    hist = sc.consumer_bound()
    assert consumer_bound(_running(hist)) is not None
    assert find_bottleneck(hist, "ds_1") is None  # the operator would win without the consumer
    assert find_bottleneck([s.__class__(**{**s.__dict__, "datasets": (
        s.datasets[0].__class__(**{**s.datasets[0].__dict__, "consumer": None}),)}) for s in hist],
        "ds_1") == "ReadRange->MapBatches(prep)"
    (top,) = [s for s in advise(hist) if s.severity != "info"]
    assert (top.rule, top.operator, top.severity) == ("consumer-bound", None, "warning")
    assert "95 %" in top.evidence and "map_batches" in top.fix


def test_a_loop_that_waits_points_to_the_bottleneck_not_the_consumer():
    hist = sc.pipeline_bound()
    assert consumer_bound(_running(hist)) is None
    assert find_bottleneck(hist, "ds_1") == sc.MODEL
    rules = [s.rule for s in advise(hist)]
    assert "consumer-bound" not in rules and rules[0] == "actor-pool-undersized"


def test_consumer_summary_in_words():
    last = sc.consumer_bound()[-1].datasets[0].consumer
    line = consumer_summary(last)
    # cumulative: 17.1 s own code, 0.2 s first batch + 0.95 s waiting
    assert line.startswith("consumer: 94 % in its own code, 6 % waiting")
    assert "its own code is the slow part" in line
    waits = sc.pipeline_bound()[-1].datasets[0].consumer
    assert "the bottleneck operator limits it" in consumer_summary(waits)
    assert consumer_summary(None) is None
