"""Routers, capacity, balancing losses, per-call options and traces."""
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_config
from models.moe import MoELayer
from models.transformer import Transformer, lm_loss
from paths import ROOT
from routing.capacity import capacity_drop_mask, expert_capacity
from routing.losses import load_balancing_loss, router_z_loss
from routing.options import RoutingOptions
from routing.routers import BiasBalancedRouter, NoisyTopKRouter, SoftmaxTopKRouter

OPTS = RoutingOptions()


def test_softmax_topk_with_and_without_renormalising():
    x = torch.randn(50, 16)
    for normalize in (True, False):
        router = SoftmaxTopKRouter(16, 6, normalize)
        d = router(x, 3, OPTS)
        probs = torch.softmax(router.gate(x), -1)
        torch.testing.assert_close(d.probs, probs)
        torch.testing.assert_close(d.expert_idx, probs.argsort(-1, descending=True)[:, :3])
        chosen = probs.gather(-1, d.expert_idx)
        expected = chosen / chosen.sum(-1, keepdim=True) if normalize else chosen
        torch.testing.assert_close(d.gate_weights, expected)


def test_noisy_router_adds_learned_noise_only_when_asked():
    router = NoisyTopKRouter(16, 8, True)
    x = torch.randn(40, 16)
    plain = router(x, 2, OPTS).logits
    torch.testing.assert_close(plain, router.gate(x))  # no noise unless asked (e.g. at eval)
    asked = RoutingOptions(learned_noise=True, noise_seed=5)
    noisy = router(x, 2, asked, torch.Generator().manual_seed(5)).logits
    expected_noise = torch.randn((40, 8), generator=torch.Generator().manual_seed(5)) * F.softplus(router.noise(x))
    torch.testing.assert_close(noisy - plain, expected_noise)


def test_extra_noise_is_seeded_per_call():
    model = Transformer(tiny_config(ffn_kind="moe")).eval()
    ids = torch.randint(0, 97, (1, 30))
    a = model(ids, RoutingOptions(noise_std=2.0, noise_seed=1), trace=True).traces
    b = model(ids, RoutingOptions(noise_std=2.0, noise_seed=1), trace=True).traces
    c = model(ids, RoutingOptions(noise_std=2.0, noise_seed=2), trace=True).traces
    clean = model(ids, trace=True).traces
    assert torch.equal(a[0].logits, b[0].logits)
    assert not torch.equal(a[0].logits, c[0].logits)
    assert not torch.equal(a[0].logits, clean[0].logits)


def test_bias_router_selects_with_bias_but_weighs_without_it():
    router = BiasBalancedRouter(8, 4, normalize_topk=False, update_rate=0.1)
    x = torch.randn(100, 8)
    router.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 10.0]))  # expert 3 always wins the selection
    d = router(x, 1, OPTS)
    assert (d.expert_idx == 3).all()
    torch.testing.assert_close(d.gate_weights, d.probs[:, 3:4])  # weight is the unbiased probability
    router.bias.zero_()
    router.update_bias(torch.tensor([10, 2, 4, 0]))  # mean 4
    torch.testing.assert_close(router.bias, torch.tensor([-0.1, 0.1, 0.0, 0.1]))


def test_capacity_drops_overflow_in_arrival_order_first_choices_first():
    # 4 tokens, K=2, E=2; capacity 3 per expert
    idx = torch.tensor([[0, 1], [0, 1], [1, 0], [0, 1]])
    dropped = capacity_drop_mask(idx, n_experts=2, capacity=3)
    # first choices: expert0 <- t0,t1,t3 (3, full); expert1 <- t2 (1)
    # second choices in token order: t0->1 (2), t1->1 (3, full), t2->0 (dropped), t3->1 (dropped)
    expected = torch.tensor([[False, False], [False, False], [False, True], [False, True]])
    assert torch.equal(dropped, expected)
    assert expert_capacity(1.0, 4, 2, 2) == 4 and expert_capacity(1.25, 10, 1, 4) == 4
    assert math.isinf(expert_capacity(math.inf, 4, 2, 2))
    assert not capacity_drop_mask(idx, 2, math.inf).any()


def test_capacity_router_drops_tokens_which_pass_through_unchanged():
    cfg = tiny_config(ffn_kind="moe", n_experts=4, top_k=1, router="capacity", capacity_factor=0.5, normalize_topk=False)
    layer = MoELayer.from_config(cfg, 0)
    x = torch.randn(1, 40, 32)
    out, aux = layer(x, OPTS, None, trace=True)
    t = aux.trace
    assert t.capacity == 5  # ceil(0.5 * 40 * 1 / 4)
    assert t.dropped.sum() >= 20  # at most 4 * 5 = 20 of the 40 tokens fit
    assert torch.all(t.expert_counts() <= 5)
    assert torch.all(out[t.token_dropped()] == 0)  # the block adds nothing: residual passes unchanged
    assert torch.all(out[~t.token_dropped()].abs().sum(-1) > 0)
    unlimited, aux2 = layer(x, RoutingOptions(capacity_factor=math.inf), None, trace=True)
    assert not aux2.trace.dropped.any()


def test_load_balancing_loss_uniform_minimum_and_hf_reference():
    n, e, k = 64, 8, 2
    uniform = torch.full((n, e), 1.0 / e)
    balanced = torch.stack([torch.arange(n) % e, (torch.arange(n) + 1) % e], dim=-1)
    assert load_balancing_loss(uniform, balanced).item() == pytest.approx(1.0, abs=1e-6)
    collapsed = torch.zeros(n, e)
    collapsed[:, 0] = 1.0
    assert load_balancing_loss(collapsed, torch.zeros(n, 1, dtype=torch.long)).item() == pytest.approx(e)
    # independent reference: transformers' own load_balancing_loss_func, which divides by tokens, not
    # assignments, so its value is K times ours
    mixtral = pytest.importorskip("transformers.models.mixtral.modeling_mixtral")
    logits = torch.randn(n, e)
    probs = torch.softmax(logits, -1)
    hf = mixtral.load_balancing_loss_func((logits,), num_experts=e, top_k=k)
    assert load_balancing_loss(probs, probs.topk(k, -1).indices).item() == pytest.approx(hf.item() / k, rel=1e-5)


def test_router_z_loss_closed_form():
    e = 8
    assert router_z_loss(torch.zeros(10, e)).item() == pytest.approx(math.log(e) ** 2)
    logits = torch.randn(5, e)
    assert router_z_loss(logits).item() == pytest.approx((torch.logsumexp(logits, -1) ** 2).mean().item())


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_top_k_per_call_any_k_without_mutating_the_model(k):
    model = Transformer(tiny_config(ffn_kind="moe")).eval()
    before = {n: v.clone() for n, v in model.state_dict().items()}
    out = model(torch.randint(0, 97, (2, 12)), RoutingOptions(top_k=k), trace=True)
    for t in out.traces:
        assert t.expert_idx.shape == (2, 12, k)
        chosen = t.expert_idx.sort(-1).values  # the k most probable experts, each once
        assert torch.equal(chosen, t.probs.topk(k, dim=-1).indices.sort(-1).values)
        assert torch.all(chosen.diff(dim=-1) > 0)
        torch.testing.assert_close(t.gate_weights.sum(-1), torch.ones(2, 12))
        torch.testing.assert_close(t.probs.sum(-1), torch.ones(2, 12))
    assert all(torch.equal(before[n], v) for n, v in model.state_dict().items())
    assert model.moe_layers()[0].default_top_k == 2


def test_invalid_routing_options_give_clear_errors():
    model = Transformer(tiny_config(ffn_kind="moe"))
    with pytest.raises(ValueError, match="between 1 and the number of experts"):
        model(torch.zeros(1, 3, dtype=torch.long), RoutingOptions(top_k=5))
    for bad in (dict(top_k=0), dict(capacity_factor=-1.0), dict(capacity_factor=float("nan")), dict(noise_std=float("inf")), dict(dispatch="x")):
        with pytest.raises(ValueError):
            RoutingOptions(**bad)


def test_trace_is_consistent_with_router_outputs():
    model = Transformer(tiny_config(ffn_kind="moe", normalize_topk=False)).eval()
    out = model(torch.randint(0, 97, (2, 9)), trace=True)
    assert [t.layer for t in out.traces] == [0, 1]
    for t in out.traces:
        torch.testing.assert_close(t.probs, torch.softmax(t.logits, -1))
        torch.testing.assert_close(t.gate_weights, t.probs.gather(-1, t.expert_idx))
        assert t.expert_counts().sum() == 2 * 9 * 2 and not t.dropped.any()


def test_capacity_router_gate_is_the_router_probability_so_the_router_learns():
    """Switch top-1: with the default normalize_topk=True a renormalised top-1 gate would be 1.0 and the
    language-model loss would give the router no gradient."""
    cfg = tiny_config(ffn_kind="moe", n_experts=4, top_k=1, router="capacity", capacity_factor=2.0)
    assert cfg.normalize_topk  # the default, which the capacity kind must ignore
    model = Transformer(cfg)
    ids = torch.randint(0, 97, (2, 17))
    out = model(ids[:, :-1], trace=True)
    for t in out.traces:
        torch.testing.assert_close(t.gate_weights[..., 0], t.probs.max(-1).values)
        assert (t.gate_weights < 1).all()
    lm_loss(out.logits, ids[:, 1:]).backward()  # the language-model loss alone, no balancing loss
    for layer in model.moe_layers():
        assert layer.router.gate.weight.grad.abs().sum() > 0


def test_routing_imports_nothing_from_models():
    for path in (ROOT / "routing").glob("*.py"):
        assert "from models" not in path.read_text() and "import models" not in path.read_text(), path
