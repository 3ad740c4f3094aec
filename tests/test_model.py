"""Backbone: KV-cache decoding, dense/MoE equivalence, generation, context limits."""
import pytest
import torch

from conftest import tiny_config
from models.generate import generate, sample_next
from models.transformer import Transformer
from routing.losses import load_balancing_loss
from routing.options import RoutingOptions


@pytest.mark.parametrize("kind", ["dense", "moe"])
def test_cached_decoding_matches_full_forward(kind):
    model = Transformer(tiny_config(ffn_kind=kind)).eval()
    ids = torch.randint(0, 97, (2, 24))
    with torch.no_grad():
        full = model(ids).logits
        cache = model.new_cache(batch=2)
        prefill = model(ids[:, :10], cache=cache).logits  # a chunk, then one token at a time
        steps = [model(ids[:, i : i + 1], cache=cache).logits for i in range(10, 24)]
    cached = torch.cat([prefill, *steps], dim=1)
    assert cache.length == 24
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=1e-5)


def test_moe_with_one_expert_equals_dense_with_same_weights():
    dense = Transformer(tiny_config()).eval()
    moe = Transformer(tiny_config(ffn_kind="moe", n_experts=1, top_k=1, d_ff=48)).eval()
    state = {}
    for name, tensor in dense.state_dict().items():
        if ".ffn.w_" in name:  # (D, F) -> one fused expert (1, D, F)
            name, tensor = name.replace(".ffn.", ".ffn.experts."), tensor.unsqueeze(0)
        state[name] = tensor
    missing, unexpected = moe.load_state_dict(state, strict=False)
    assert unexpected == [] and all("router" in m for m in missing)
    ids = torch.randint(0, 97, (3, 30))
    with torch.no_grad():
        reference = dense(ids).logits
        one_token = dense(ids[:1, :1]).logits
        for backend in ("loop", "sorted", "auto"):  # the same matmuls in the same order: bit for bit
            assert torch.equal(moe(ids, RoutingOptions(dispatch=backend)).logits, reference), backend
            assert torch.equal(moe(ids[:1, :1], RoutingOptions(dispatch=backend)).logits, one_token), backend
        # grouped_mm is a kernel of its own: equal to float rounding
        torch.testing.assert_close(moe(ids, RoutingOptions(dispatch="grouped")).logits, reference, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(moe(ids[:1, :1], RoutingOptions(dispatch="grouped")).logits, one_token, atol=1e-6, rtol=1e-5)


def test_context_limit_is_enforced_with_clear_message():
    model = Transformer(tiny_config())
    with pytest.raises(ValueError, match="exceeds the model context of 64"):
        model(torch.zeros(1, 65, dtype=torch.long))


def test_greedy_generation_follows_argmax_of_full_forward():
    model = Transformer(tiny_config(ffn_kind="moe")).eval()
    prompt = torch.randint(0, 97, (2, 5))
    out = generate(model, prompt, max_new_tokens=8)
    assert out.shape == (2, 13) and torch.equal(out[:, :5], prompt)
    with torch.no_grad():
        logits = model(out).logits
    torch.testing.assert_close(out[:, 5:], logits[:, 4:-1].argmax(-1), rtol=0, atol=0)


def test_sampling_is_seeded_and_top_p_truncates():
    model = Transformer(tiny_config()).eval()
    prompt = torch.randint(0, 97, (1, 4))
    a = generate(model, prompt, 10, temperature=1.0, top_p=0.9, seed=7)
    b = generate(model, prompt, 10, temperature=1.0, top_p=0.9, seed=7)
    assert torch.equal(a, b)
    assert torch.equal(generate(model, prompt, 10, temperature=1.0, top_p=1e-6, seed=3), generate(model, prompt, 10))
    assert generate(model, prompt, 500).shape[1] == 64  # stops at the context length


def test_top_p_keeps_the_smallest_prefix_reaching_the_mass():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    draws = {int(sample_next(logits, 1.0, 0.75, torch.Generator().manual_seed(s))) for s in range(200)}
    assert draws == {0, 1}


def test_balancing_losses_are_computed_only_when_read():
    model = Transformer(tiny_config(ffn_kind="moe")).eval()
    out = model(torch.randint(0, 97, (2, 12)), trace=True)
    assert all("aux_loss" not in a.__dict__ and "z_loss" not in a.__dict__ for a in out.moe)  # inference skips them
    expected = sum(load_balancing_loss(t.probs.flatten(0, 1), t.expert_idx.flatten(0, 1)) for t in out.traces)
    torch.testing.assert_close(out.aux_loss, expected)
    assert all("aux_loss" in a.__dict__ for a in out.moe)
