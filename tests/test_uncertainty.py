"""Bootstrap intervals of a text's mean loss, against the normal approximation and known cases."""
import math
import random

import pytest

from backend.analysis import Settings, analyze_text
from backend.uncertainty import mean_interval, paired_difference, perplexity_interval
from viz.comparison_views import comparison_table, differences_text


def test_interval_matches_the_normal_approximation_on_many_tokens():
    rng = random.Random(0)
    losses = [rng.gauss(4.0, 1.5) for _ in range(2000)]
    mean = sum(losses) / len(losses)
    sd = math.sqrt(sum((x - mean) ** 2 for x in losses) / (len(losses) - 1))
    interval = mean_interval(losses)
    half = 1.96 * sd / math.sqrt(len(losses))
    assert interval.low == pytest.approx(mean - half, abs=0.15 * half)
    assert interval.high == pytest.approx(mean + half, abs=0.15 * half)


def test_constant_losses_have_a_point_interval_and_few_tokens_none():
    interval = mean_interval([2.0] * 10)
    assert (interval.low, interval.high) == (pytest.approx(2.0), pytest.approx(2.0))
    assert mean_interval([3.0]) is None
    assert perplexity_interval(interval).low == pytest.approx(math.e**2)


def test_paired_difference_ties_and_wins():
    rng = random.Random(1)
    a = [rng.gauss(4.0, 1.0) for _ in range(200)]
    assert paired_difference("x", a, "y", a).verdict == "tie"
    better = [v - 0.5 + rng.gauss(0, 0.1) for v in a]  # y is 0.5 nats lower on every token
    d = paired_difference("x", a, "y", better)
    assert d.verdict == "y lower" and d.interval.low > 0 and d.mean == pytest.approx(0.5, abs=0.05)
    assert paired_difference("x", a[:1], "y", better[:1]) is None


def test_the_report_carries_intervals_and_the_page_says_tie_or_lower():
    report = analyze_text("The quick brown fox jumps over the lazy dog.", Settings())
    for m in report.models:
        assert m.loss_interval.low <= m.mean_loss <= m.loss_interval.high
    assert [(d.a, d.b) for d in report.differences] == [("moe-8", "dense"), ("moe-8", "dense-wide")]
    text = differences_text(report)
    assert all(("a tie on this text" in line) == (d.verdict == "tie")
               for line, d in zip(text.splitlines()[1:], report.differences))
    assert "95% interval" in comparison_table(report)["metric"].iloc[3]
