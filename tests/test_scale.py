"""The scale calculator against published figures, closed forms, a simulation and the zoo's modules."""
import json
import math
import random
import re

import pytest

from models.config import ModelConfig
from models.params import active_params, breakdown, expected_experts_read, flops_per_token
from models.transformer import Transformer
from scale.__main__ import main as params_cli
from scale.architectures import ConfigError, parse_config
from scale.presets import PUBLISHED, REFERENCE_DIR, load_preset, parse_size
from scale.report import AGREEMENT_RULE, agrees, scale_report

CHECKED = [name for name, info in PUBLISHED.items() if info.get("total")]


def reference(name: str) -> dict:
    return json.loads((REFERENCE_DIR / f"{name}.json").read_text())


@pytest.mark.parametrize("name", CHECKED)
def test_presets_reproduce_their_published_figures(name):
    preset = load_preset(name)
    check = scale_report(preset.label, preset.spec, preset.published)["published"]
    assert check["total"]["within"], check
    if "active" in check:
        assert check["active"]["within"], check
    assert preset.spec.unknown_fields == ()


@pytest.mark.parametrize("name", [n for n, info in PUBLISHED.items()])
def test_every_published_figure_quotes_its_source_verbatim(name):
    info = PUBLISHED[name]
    assert info["quote"] and info["where"] and info["source"]
    for key in ("total", "active"):
        if info.get(key):  # the figure is in the quoted words ("46.7B", or "7 billion" for "7B")
            number = re.fullmatch(r"([\d.]+)[BM]", info[key])[1]
            assert re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", info["quote"]), (key, info[key], info["quote"])


def test_the_agreement_rule_on_the_page_is_the_one_applied():
    assert agrees(3_350_000_000, "3.3B") and agrees(46_703_000_000, "46.7B") and not agrees(68_980_000_000, "70B")
    assert agrees(68_980_000_000, "70B", nominal=True) and not agrees(60_000_000_000, "70B", nominal=True)
    assert "within 1%" in AGREEMENT_RULE and "within 5%" in AGREEMENT_RULE


def test_mixtral_and_llama2_within_one_percent():
    mixtral, llama = load_preset("mixtral-8x7b").spec, load_preset("llama-2-70b").spec
    assert breakdown(mixtral).total == pytest.approx(46.7e9, rel=0.01)
    assert active_params(mixtral, "all") == pytest.approx(12.9e9, rel=0.01)
    assert breakdown(llama).total == pytest.approx(68.98e9, rel=0.001)  # published as the size name "70B"
    # closed form for Mixtral: 32 layers x 8 experts x SwiGLU(4096 -> 14336)
    assert breakdown(mixtral).routed_experts == 32 * 8 * 3 * 4096 * 14336
    assert breakdown(mixtral, active=True).routed_experts == 32 * 2 * 3 * 4096 * 14336
    assert breakdown(mixtral).attention == 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024)


def test_gpt_oss_convention_counts_the_head_but_not_the_embedding():
    spec = load_preset("gpt-oss-120b").spec
    b = breakdown(spec, active=True)
    assert active_params(spec, "no_embedding") == b.total - b.embedding
    assert active_params(spec, "non_embedding") == b.total - b.embedding - b.head


def test_unpublished_architecture_computes_nothing():
    preset = load_preset("gpt-4")
    assert preset.spec is None
    report = scale_report(preset.label, preset.spec, preset.published)
    assert report["unpublished"] and "total_params" not in report and "not published" in report["text"]


def test_qwen_moe_sparse_step_and_mlp_only_layers():
    cfg = reference("qwen1.5-moe-a2.7b") | {"decoder_sparse_step": 2, "mlp_only_layers": [1]}
    spec = parse_config(cfg)
    kinds = ["moe" if layer.ffn.is_moe else "dense" for layer in spec.layers]
    assert kinds[:4] == ["dense", "dense", "dense", "moe"]  # layer 1 forced dense; layer i MoE iff (i+1) % 2 == 0
    assert kinds.count("moe") == 11
    assert breakdown(spec).dense_ffn == 13 * 3 * 2048 * 5632


def test_deepseek_dense_first_layers_and_shared_experts():
    spec = load_preset("deepseek-v3").spec
    assert [layer.ffn.is_moe for layer in spec.layers[:4]] == [False, False, False, True]
    assert breakdown(spec).shared_experts == 58 * 3 * 7168 * 2048


@pytest.mark.parametrize(
    "change,message",
    [
        ({"hidden_size": None}, "'hidden_size' is missing"),
        ({"hidden_size": "4096"}, "'hidden_size' must be an integer"),
        ({"num_hidden_layers": 10**9}, "'num_hidden_layers' = 1000000000 is out of range"),
        ({"num_local_experts": -8}, "'num_local_experts' = -8 is out of range"),
        ({"num_experts_per_tok": 9}, "'num_experts_per_tok' = 9 is out of range"),
        ({"model_type": "gpt5"}, "'model_type' = 'gpt5' is not understood"),
        ({"num_key_value_heads": 7}, "must be a multiple"),
        ({"tie_word_embeddings": "no"}, "'tie_word_embeddings' must be true or false"),
    ],
)
def test_bad_configs_name_the_field(change, message):
    cfg = reference("mixtral-8x7b") | change
    with pytest.raises(ConfigError, match=message):
        parse_config(cfg)


def test_unknown_fields_are_reported_not_guessed():
    spec = parse_config(reference("mixtral-8x7b") | {"num_shared_experts": 2, "use_fancy_gate": True})
    assert spec.unknown_fields == ("num_shared_experts", "use_fancy_gate")
    assert breakdown(spec).total == breakdown(load_preset("mixtral-8x7b").spec).total


def test_expected_experts_read_matches_closed_ends_and_a_simulation():
    assert expected_experts_read(8, 2, 1) == pytest.approx(2)
    assert expected_experts_read(8, 2, 10_000) == pytest.approx(8)
    rng = random.Random(0)
    for e, k, b in [(8, 2, 4), (64, 8, 16), (16, 4, 3)]:
        trials = [len({x for _ in range(b) for x in rng.sample(range(e), k)}) for _ in range(4000)]
        assert sum(trials) / len(trials) == pytest.approx(expected_experts_read(e, k, b), rel=0.02)


@pytest.mark.parametrize("changes", [dict(), dict(ffn_kind="moe", n_experts=8, top_k=2, d_ff=64),
                                     dict(ffn_kind="moe", n_experts=4, top_k=1, router="noisy", tie_embeddings=False)])
def test_project_configs_pasted_as_json_agree_exactly_with_the_modules(changes):
    cfg = ModelConfig(vocab_size=300, d_model=32, n_layers=3, n_heads=4, context_length=64, **changes)
    spec = parse_config(cfg.to_dict())
    assert breakdown(spec).total == sum(p.numel() for p in Transformer(cfg).parameters())
    with pytest.raises(ConfigError, match="unknown config field"):
        parse_config(cfg.to_dict() | {"ffn_width": 3})


def test_parse_size():
    assert parse_size("46.7B") == (46.7e9, 0.05e9)
    assert parse_size("37B") == (37e9, 0.5e9)


def test_cli_json_and_errors(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(reference("olmoe-1b-7b")))
    params_cli([str(path), "--json", "--context", "2048"])
    out = json.loads(capsys.readouterr().out)
    assert out["total_params"] == breakdown(load_preset("olmoe-1b-7b").spec).total
    assert out["context"] == 2048 and out["experts_read"]["1"] == pytest.approx(8)
    path.write_text(json.dumps(reference("olmoe-1b-7b") | {"hidden_size": -1}))
    with pytest.raises(SystemExit) as exit_info:
        params_cli([str(path)])
    assert exit_info.value.code == 2 and "'hidden_size' = -1 is out of range" in capsys.readouterr().err


def test_the_table_shows_a_tiny_models_weights_in_significant_digits_not_zeros():
    from scale.report import compare_scale
    from viz.scale_views import scale_table

    table = scale_table(compare_scale(["zoo:moe-8", "mixtral-8x7b"], "", 4096)).set_index("model")
    weights = table["weights bf16 / 4-bit (GB)"]
    assert weights["Mixtral 8x7B"] == "93.41 / 23.35"
    bf16, four_bit = (float(v) for v in weights.filter(like="moe-8").iloc[0].split(" / "))
    assert math.isclose(bf16, 3_937_408 * 2 / 1e9, rel_tol=5e-3) and four_bit > 0  # moe-8's 3.94 M parameters
