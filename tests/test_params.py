"""Parameter accounting from the config equals what the modules hold, component by component."""
import pytest

from conftest import tiny_config
from models.params import COMPONENTS, config_flops, count_params
from models.transformer import Transformer

CONFIGS = [
    dict(),
    dict(tie_embeddings=False),
    dict(ffn_kind="moe"),
    dict(ffn_kind="moe", tie_embeddings=False, n_experts=8, top_k=3),
    dict(ffn_kind="moe", router="noisy"),
    dict(ffn_kind="moe", router="bias"),
    dict(ffn_kind="moe", router="capacity", top_k=1, capacity_factor=1.25),
]


def component_of(name: str, moe: bool) -> str:
    if name.startswith("embed."):
        return "embedding"
    if name.startswith("head."):
        return "head"
    if ".attn." in name:
        return "attention"
    if "norm" in name:
        return "norms"
    if ".router." in name:
        return "router"
    assert ".ffn." in name, name
    return "routed_experts" if moe else "dense_ffn"


@pytest.mark.parametrize("changes", CONFIGS)
def test_analytic_counts_equal_module_parameters(changes):
    cfg = tiny_config(**changes)
    model = Transformer(cfg)
    measured = dict.fromkeys(COMPONENTS, 0)
    for name, p in model.named_parameters():
        measured[component_of(name, cfg.is_moe)] += p.numel()
    report = count_params(cfg)
    assert report.total.as_dict() == measured
    assert report.total.total == sum(p.numel() for p in model.parameters())


def test_active_parameters_count_only_the_chosen_experts():
    cfg = tiny_config(ffn_kind="moe", n_experts=8, top_k=2)
    report = count_params(cfg)
    assert report.active.routed_experts * 4 == report.total.routed_experts
    assert report.total.total - report.active.total == report.total.routed_experts * 6 // 8
    assert count_params(cfg, top_k=8).active == report.total
    assert report.active_non_embedding == report.active.total - cfg.vocab_size * cfg.d_model
    dense = count_params(tiny_config())
    assert dense.active == dense.total


def test_flops_per_token_closed_form():
    cfg = tiny_config(ffn_kind="moe", n_experts=4, top_k=2)  # D=32, L=2, F=16, V=97
    weights = 2 * (4 * 32 * 32 + 32 * 4 + 2 * 3 * 32 * 16) + 97 * 32
    assert config_flops(cfg, context=10) == 2 * weights + 4 * 2 * 10 * 32


def test_a_noisy_routers_noise_projection_is_stored_but_not_active():
    noisy, plain = count_params(tiny_config(ffn_kind="moe", router="noisy")), count_params(tiny_config(ffn_kind="moe"))
    assert noisy.total.router == 2 * plain.total.router  # gate + noise projection, both held by the module
    assert noisy.active == plain.active  # inference never runs the noise projection


@pytest.mark.parametrize("k", [0, 5, 2.0, True])
def test_top_k_is_checked_once_with_one_message(k):
    cfg = tiny_config(ffn_kind="moe")  # 4 experts
    with pytest.raises(ValueError, match=r"top_k must be an integer between 1 and the number of experts \(4\)"):
        count_params(cfg, top_k=k)
