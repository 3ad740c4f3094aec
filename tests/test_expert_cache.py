"""The expert-cache view: coverage from counts, fetched bytes and the memory-bound speed in closed form."""
import gradio as gr
import pytest

from backend.analysis import Settings
from backend.expert_cache import cache_table, coverage_at_fraction, coverage_from_counts, measured_coverage
from models.params import breakdown
from page.latency import on_cache
from scale.presets import load_preset


def test_coverage_counts_the_most_used_experts_first():
    assert coverage_from_counts([1, 5, 0, 4]) == [0.0, 0.5, 0.9, 1.0, 1.0]
    assert coverage_at_fraction([0.0, 0.5, 0.9, 1.0, 1.0], 0.125) == pytest.approx(0.25)
    assert coverage_at_fraction([0.0, 1.0], 1.0) == 1.0


def test_measured_coverage_is_at_least_uniform_and_ends_at_one():
    curves = measured_coverage("def f(x):\n    return x * 2\n" * 4, Settings(n_experts=16))
    assert len(curves.measured) == 4 and curves.uniform[4] == 0.25
    for layer in curves.measured:  # the most-used experts serve at least their uniform share
        assert layer[-1] == pytest.approx(1.0) and all(m >= u - 1e-12 for m, u in zip(layer, curves.uniform))


def test_cache_table_in_closed_form_for_mixtral():
    spec = load_preset("mixtral-8x7b").spec
    uniform = [n / 8 for n in range(9)]
    rows = cache_table(spec, 2.0, uniform, fast_gbs=1000, slow_gbs=25)
    expert = 3 * 4096 * 14336 * 2  # bytes of one bf16 expert
    assert rows[0].fetched_mb_per_token == pytest.approx(32 * 2 * expert / 1e6)  # every expert fetched
    assert rows[8].fetched_mb_per_token == 0.0
    active = breakdown(spec, active=True)
    read = (active.total - active.embedding) * 2  # everything a token reads, one embedding row aside
    assert rows[8].tokens_per_s == pytest.approx(1000e9 / read)
    assert rows[8].fast_gb == pytest.approx((breakdown(spec).total) * 2 / 1e9)
    assert [r.tokens_per_s for r in rows] == sorted(r.tokens_per_s for r in rows)


@pytest.mark.parametrize("args,message", [
    (("x = 1", 8, "llama-2-70b", "bf16", 1000, 25), "model must be one of"),
    (("x = 1", 8, "mixtral-8x7b", "fp64", 1000, 25), "weight format must be one of"),
    (("x = 1", 8, "mixtral-8x7b", "bf16", 0, 25), "fast bandwidth must be between"),
    (("", 8, "mixtral-8x7b", "bf16", 1000, 25), "Paste some text"),
])
def test_cache_handler_bad_input(args, message):
    with pytest.raises(gr.Error, match=message):
        on_cache(*args)
