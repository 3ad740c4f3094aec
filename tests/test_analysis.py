"""The shared backend: report contents agree with direct forward passes; settings show up; bad input."""
import math

import pytest
import statistics

import torch

from backend.analysis import (InputError, Settings, analyze_text, float32_digits, measure_report_latency,
                              validate_settings)
from models.params import count_params
from models.transformer import lm_loss
from models.zoo import load_member
from routing.options import RoutingOptions
from viz.comparison_views import comparison_table, latency_figure, loss_figure, parameters_figure
from viz.routing_views import expert_load_figure, routing_heatmap, routing_table, token_strip_html

TEXT = "The quick brown fox. Быстрая лиса.\ndef f(x):\n    return x * 2\n12 + 30 = 42"


def test_report_agrees_with_a_direct_forward_pass():
    settings = Settings(n_experts=8, top_k=3, capacity_factor=1.0, noise_std=0.5, noise_seed=11)
    report = analyze_text(TEXT, settings)
    moe = load_member("moe-8")
    ids = torch.tensor([moe.tokenizer.encode(TEXT).ids])
    assert report.token_ids == ids[0].tolist()
    out = moe.model(ids, RoutingOptions(top_k=3, capacity_factor=1.0, noise_std=0.5, noise_seed=11), trace=True)
    assert len(report.routing) == len(out.traces) == moe.model.cfg.n_layers
    for layer, trace in zip(report.routing, out.traces):
        assert layer.expert_idx == trace.expert_idx[0].tolist()
        assert layer.dropped == trace.dropped[0].tolist()
        torch.testing.assert_close(torch.tensor(layer.gate_weights), trace.gate_weights[0])
        torch.testing.assert_close(torch.tensor(layer.probs), trace.probs[0])
        assert layer.load == trace.expert_counts().tolist()
        assert layer.capacity == math.ceil(1.0 * ids.shape[1] * 3 / 8)
    losses = lm_loss(out.logits[:, :-1], ids[:, 1:], reduction="none")[0]
    assert report.moe.token_losses[0] is None
    torch.testing.assert_close(torch.tensor(report.moe.token_losses[1:]), losses)
    dense = load_member("dense").model
    dense_losses = lm_loss(dense(ids).logits[:, :-1], ids[:, 1:], reduction="none")[0]
    torch.testing.assert_close(torch.tensor(report.models[0].token_losses[1:]), dense_losses)
    assert report.moe.perplexity == pytest.approx(math.exp(losses.mean().item()), rel=1e-5)


def test_router_probabilities_keep_seven_significant_digits_and_half_the_json():
    import json
    values = torch.tensor([[0.0, 1.0, 0.123456789, 3.17251234e-30], [-2.5e-7, 0.999999987, 1e-3, 12345.6789]])
    digits = float32_digits(values)
    assert digits == [[0.0, 1.0, 0.1234568, 3.172512e-30], [-2.5e-07, 1.0, 0.001, 12345.68]]
    probs = torch.softmax(torch.randn(256, 64, generator=torch.Generator().manual_seed(0)) * 3, -1)
    short = torch.tensor(float32_digits(probs), dtype=torch.float64)
    assert ((short - probs.double()).abs() <= 5e-7 * probs.double()).all() and (short > 0).all()
    assert len(json.dumps(float32_digits(probs))) < 0.6 * len(json.dumps(probs.tolist()))


def test_top_k_and_expert_count_show_up_in_the_report():
    reports = {(e, k): analyze_text(TEXT, Settings(n_experts=e, top_k=k)) for e, k in [(4, 1), (4, 4), (16, 2), (16, 7)]}
    for (e, k), report in reports.items():
        assert report.moe.name == f"moe-{e}"
        for layer in report.routing:
            assert all(len(row) == k for row in layer.expert_idx)
            assert all(len(row) == e for row in layer.probs)
            assert all(abs(sum(w) - 1) < 1e-5 for w in layer.gate_weights)  # the zoo renormalises top-k weights
            assert sum(layer.load) == k * len(report.tokens)
        assert report.moe.active_params == count_params(load_member(f"moe-{e}").model.cfg, top_k=k).active.total
    assert reports[(4, 1)].moe.active_params < reports[(4, 4)].moe.active_params == reports[(4, 4)].moe.total_params
    assert [m.name for m in reports[(16, 2)].models] == ["dense", "moe-16", "dense-wide"]


def test_capacity_drops_tokens_and_noise_is_reproducible():
    tight = analyze_text(TEXT, Settings(n_experts=8, top_k=1, capacity_factor=0.25))
    for layer in tight.routing:
        assert max(layer.load) <= layer.capacity
        assert sum(all(d) for d in layer.dropped) >= len(tight.tokens) - 8 * layer.capacity
    a = analyze_text(TEXT, Settings(noise_std=2.0, noise_seed=4))
    b = analyze_text(TEXT, Settings(noise_std=2.0, noise_seed=4))
    assert a.routing == b.routing


def test_long_odd_and_empty_text():
    long_report = analyze_text("word " * 5000, Settings())
    assert len(long_report.tokens) == 256 and long_report.input_tokens > 256
    assert "only the first 256 are analysed" in long_report.notices[0]
    odd = analyze_text("a\ud800b \x00 🎉 e\u0301 שלום", Settings())
    assert any("lone surrogates" in n for n in odd.notices)
    single = analyze_text("a", Settings())
    assert single.moe.mean_loss is None and any("single token" in n for n in single.notices)
    for bad in ("", "   \n\t", None, 42):
        with pytest.raises(InputError):
            analyze_text(bad, Settings())
    with pytest.raises(InputError, match="limit"):
        analyze_text("x" * 2_000_001, Settings())


@pytest.mark.parametrize(
    "args,message",
    [
        ((5, 2, None, 0, 0), "number of experts"),
        ((8, 0, None, 0, 0), "top-K"),
        ((8, 9, None, 0, 0), "top-K"),
        ((8, 2.5, None, 0, 0), "integer"),
        ((8, True, None, 0, 0), "integer"),
        ((8, "2", None, 0, 0), "integer"),
        ((8, 2, float("nan"), 0, 0), "finite"),
        ((8, 2, -1, 0, 0), "positive"),
        ((8, 2, None, 11, 0), "router noise"),
        ((8, 2, None, 0, -1), "seed"),
    ],
)
def test_settings_are_validated_with_named_messages(args, message):
    with pytest.raises(InputError, match=message):
        validate_settings(*args)


def test_settings_defaults_and_zero_capacity_means_no_limit():
    assert validate_settings(16, 16, 0, 0, 0) == Settings(16, 16, None, 0.0, 0)
    assert validate_settings(8.0, 2.0, 1.5, 0.3, 7.0) == Settings(8, 2, 1.5, 0.3, 7)


def test_latency_is_measured_for_all_three_models():
    report = measure_report_latency(analyze_text(TEXT, Settings(n_experts=4)), repeats=3, decode_tokens=4)
    lat = report.latency
    assert set(lat.models) == {"dense", "moe-4", "dense-wide"}
    assert lat.repeats == 3 and lat.threads == torch.get_num_threads() and lat.prompt_tokens == len(report.tokens)
    for timing in lat.models.values():
        for t in (timing.prefill_ms, timing.decode_tokens_per_s):
            assert len(t.samples) == 3 and all(s > 0 for s in t.samples)
            assert (t.low, t.median, t.high) == (min(t.samples), statistics.median(t.samples), max(t.samples))
    assert "prefill" in lat.description and "threads" in lat.description


def test_views_render_the_report():
    report = measure_report_latency(analyze_text("<script>alert(1)</script> " + TEXT, Settings(top_k=2, capacity_factor=0.5)), repeats=1, decode_tokens=2)
    html = token_strip_html(report, 1)
    assert "<script>" not in html and "&lt;" in html
    assert html.count('<span class="tok') == len(report.tokens)
    assert "expert" in html and "dropped" in html
    table = routing_table(report)
    assert len(table) == len(report.routing) * len(report.tokens) * 2
    assert set(table.columns) >= {"position", "token", "layer", "rank", "expert", "gate_weight", "dropped"}
    comparison = comparison_table(report)
    assert list(comparison.columns)[1:] == [f"{m.name} ({m.role})" for m in report.models]
    assert "prefill time (ms, median)" in comparison["metric"].tolist()
    for fig in (routing_heatmap(report), expert_load_figure(report, 0), parameters_figure(report),
                latency_figure(report), loss_figure(report)):
        assert fig.data


def test_the_page_timing_runs_the_zoo_in_bfloat16_where_the_cpu_has_it():
    from backend.timing import native_dtypes
    report = analyze_text(TEXT, Settings(n_experts=4))
    if "bfloat16" not in native_dtypes():
        with pytest.raises(InputError, match="timing dtype must be one of float32"):
            measure_report_latency(report, repeats=1, decode_tokens=2, dtype="bfloat16")
        return
    timed = measure_report_latency(report, repeats=1, decode_tokens=2, dtype="bfloat16")
    assert "in bfloat16" in timed.latency.description and set(timed.latency.models) == {"dense", "moe-4", "dense-wide"}
    assert next(load_member("moe-4").model.parameters()).dtype == torch.float32  # the shared model is untouched
    with pytest.raises(InputError, match="timing dtype must be one of"):
        measure_report_latency(report, repeats=1, decode_tokens=2, dtype="int8")


def test_one_forward_per_model_serves_the_report_the_bootstrap_and_the_predictions(monkeypatch):
    """An analysis runs each model once; the pinned token's next-token table reads that forward's logits."""
    from backend.analysis import next_token_predictions
    from models.transformer import Transformer
    calls = []
    real_forward = Transformer.forward

    def counted(self, *args, **kwargs):
        calls.append(self.cfg)
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(Transformer, "forward", counted)
    report = analyze_text("def add(a, b):\n    return a + b", validate_settings(8, 2, 0, 0.0, 0))
    predictions = next_token_predictions(report, 3)
    assert len(calls) == len(report.models) == 3  # dense, moe-8, dense-wide: one forward each, none for the table
    moe = next(m for m in report.models if m.name == "moe-8")
    assert len(moe.next_token_ids) == len(report.tokens) and all(len(row) == 5 for row in moe.next_token_probs)
    probs = [p for _, p in predictions["moe-8"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    monkeypatch.setattr(Transformer, "forward", real_forward)
    with torch.no_grad():  # the table equals a forward over the prefix (causal attention, no noise or capacity)
        prefix = load_member("moe-8").model(torch.tensor([report.token_ids[:4]])).logits[0, -1]
    assert moe.next_token_ids[3] == torch.softmax(prefix.float(), -1).topk(5).indices.tolist()
