"""Routing rules as data (routing/rules.py): the one RuleRouter reproduces each family's own router in
transformers (choices and gate weights), and the rule's pieces do what they say."""
import pytest
import torch
import transformers
from transformers.models.deepseek_v2.modeling_deepseek_v2 import DeepseekV2TopkRouter
from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3TopkRouter

from models.hf_families import FAMILIES, declares_experts, resolve_rule
from routing.options import RoutingOptions
from routing.rules import RoutingRule, RuleRouter

N, D, E = 64, 16, 8


def rule_router(rule: RoutingRule, weight: torch.Tensor, bias: torch.Tensor | None = None) -> RuleRouter:
    router = RuleRouter(D, E, rule)
    with torch.no_grad():
        router.gate.weight.copy_(weight)
        if bias is not None:
            router.choice_bias.copy_(bias)
    return router


def same_choice(ours, their_idx, their_weights):
    """Equal sets of experts per token, and equal gates expert by expert (transformers' top-K is unsorted)."""
    order = their_idx.argsort(-1)
    ours_order = ours.expert_idx.argsort(-1)
    assert torch.equal(ours.expert_idx.gather(-1, ours_order), their_idx.gather(-1, order))
    torch.testing.assert_close(ours.gate_weights.gather(-1, ours_order), their_weights.gather(-1, order), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("norm", [True, False])
def test_deepseek_v3_sigmoid_bias_groups_and_scaling(norm):
    config = transformers.DeepseekV3Config(hidden_size=D, n_routed_experts=E, num_experts_per_tok=3, n_group=4, topk_group=2,
                                           routed_scaling_factor=2.5, norm_topk_prob=norm)
    theirs = DeepseekV3TopkRouter(config)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(E, D, generator=gen))
        theirs.e_score_correction_bias.copy_(0.3 * torch.randn(E, generator=gen))
    rule = resolve_rule(FAMILIES["deepseek_v3"], config)
    assert rule == RoutingRule("sigmoid", True, 4, 2, "top2_sum", 1.0 if norm else None, 2.5)
    ours = rule_router(rule, theirs.weight, theirs.e_score_correction_bias)
    x = torch.randn(N, D, generator=gen)
    _, weights, idx = theirs(x)
    decision = ours(x, 3, RoutingOptions())
    same_choice(decision, idx, weights)
    # the bias moved some choice (else it would not be tested), and the scores are the sigmoid, not a distribution
    unbiased = rule_router(RoutingRule("sigmoid", False, 4, 2, "top2_sum", 1.0, 2.5), theirs.weight)(x, 3, RoutingOptions())
    assert not torch.equal(unbiased.expert_idx.sort(-1).values, decision.expert_idx.sort(-1).values)
    torch.testing.assert_close(decision.scores, torch.sigmoid(x @ theirs.weight.t()))
    torch.testing.assert_close(decision.probs.sum(-1), torch.ones(N))
    # every chosen expert lies in the 2 kept groups of 4
    groups = decision.expert_idx // (E // 4)
    assert all(len(set(row)) <= 2 for row in groups.tolist())


def test_deepseek_v2_group_limited_greedy_softmax_unnormalised():
    config = transformers.DeepseekV2Config(hidden_size=D, num_attention_heads=4, num_key_value_heads=4, n_routed_experts=E,
                                           num_experts_per_tok=2, n_group=4, topk_group=2, topk_method="group_limited_greedy",
                                           routed_scaling_factor=1.5)
    theirs = DeepseekV2TopkRouter(config)
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(E, D, generator=torch.Generator().manual_seed(1)))
    rule = resolve_rule(FAMILIES["deepseek_v2"], config)
    assert rule == RoutingRule("softmax", False, 4, 2, "max", None, 1.5)
    x = torch.randn(N, D, generator=torch.Generator().manual_seed(2))
    _, weights, idx = theirs(x)
    same_choice(rule_router(rule, theirs.weight)(x, 2, RoutingOptions()), idx, weights)
    greedy = transformers.DeepseekV2Config(hidden_size=D, num_attention_heads=4, num_key_value_heads=4, n_routed_experts=E,
                                           n_group=4, topk_group=2, topk_method="greedy")
    assert resolve_rule(FAMILIES["deepseek_v2"], greedy).groups == 1  # groups apply only to group_limited_greedy


def test_a_top_k_beyond_the_kept_groups_keeps_more_groups():
    rule = RoutingRule("sigmoid", False, 4, 1, "top2_sum", 1.0, 1.0)
    router = rule_router(rule, torch.randn(E, D))
    x = torch.randn(N, D)
    assert rule.groups_for(2, E) == 1 and rule.groups_for(3, E) == 2 and rule.groups_for(E, E) == 4
    every = router(x, E, RoutingOptions())
    assert sorted(every.expert_idx[0].tolist()) == list(range(E))


def test_an_ablated_expert_lowers_its_groups_rank():
    """Re-routing away from an expert removes it before groups are ranked: a token whose choices are all in
    one group can then lose that group, which a plain top-K never does for an unchosen expert."""
    rule = RoutingRule("softmax", False, 2, 1, "top2_sum", 1.0, 1.0)
    weight = torch.zeros(4, D)
    weight[0, 0], weight[1, 0], weight[2, 0], weight[3, 0] = 3.0, 2.5, 2.9, 1.0  # group 0: {0, 1}, group 1: {2, 3}
    router = RuleRouter(D, 4, rule)
    with torch.no_grad():
        router.gate.weight.copy_(weight)
    x = torch.zeros(1, D)
    x[0, 0] = 1.0
    chosen = router(x, 1, RoutingOptions()).expert_idx  # group 0 ranks 3.0 + 2.5 over 2.9 + 1.0: expert 0
    assert chosen.tolist() == [[0]]
    excluded = torch.tensor([[False, True, False, False]])  # expert 1 was not chosen
    rerouted = router(x, 1, RoutingOptions(), excluded=excluded).expert_idx
    assert rerouted.tolist() == [[2]]  # group 0 now ranks by expert 0 alone, below group 1


def test_dbrx_p_norm_and_a_router_bias():
    rule = RoutingRule(norm_p=2.0)
    router = rule_router(rule, torch.randn(E, D))
    decision = router(torch.randn(N, D), 2, RoutingOptions())
    torch.testing.assert_close(decision.gate_weights.norm(dim=-1), torch.ones(N))
    with_bias = RuleRouter(D, E, RoutingRule(), router_bias=True)
    assert with_bias.gate.bias is not None


def test_dbrx_is_recognised_as_an_moe_from_its_nested_config():
    assert declares_experts({"model_type": "dbrx", "ffn_config": {"moe_num_experts": 16}})
    assert declares_experts({"num_local_experts": 8}) and not declares_experts({"model_type": "llama"})



def test_the_readme_lists_every_family_with_the_calculators_memory():
    """README's family table: one row per registry entry, and the figures equal the calculator's on the shipped config."""
    from models.params import breakdown
    from paths import ROOT
    from scale.presets import load_preset
    rows = {line.split("|")[2].strip(" `"): line for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("| ") and line.count("`") == 2}
    assert set(FAMILIES) <= set(rows)
    for family in FAMILIES.values():
        if family.preset:
            spec = load_preset(family.preset).spec
            total, active = breakdown(spec).total, breakdown(spec, active=True).total
            assert f"| {total / 1e9:.2f} B | {active / 1e9:.2f} B | {total * 2 / 2**30:.1f} GiB |" in rows[family.model_type]


def test_a_zoo_model_trains_with_the_deepseek_v3_rule():
    """The router kinds live in routing/: a zoo config may name DeepSeek-V3's sigmoid rule, and training moves its
    selection bias toward balance (up for underloaded experts) while the gate learns from the loss."""
    from models.config import ModelConfig
    from models.transformer import Transformer, lm_loss
    cfg = ModelConfig(vocab_size=97, d_model=32, n_layers=2, n_heads=4, context_length=32, ffn_kind="moe", d_ff=16,
                      n_experts=4, top_k=2, router="sigmoid", bias_update_rate=0.01)
    model = Transformer(cfg)
    ids = torch.randint(0, 97, (4, 17), generator=torch.Generator().manual_seed(0))
    out = model(ids[:, :-1], trace=True)
    lm_loss(out.logits, ids[:, 1:]).backward()
    router = model.moe_layers()[0].router
    assert isinstance(router, RuleRouter) and router.gate.weight.grad.abs().sum() > 0
    counts = out.traces[0].expert_counts()
    router.update_bias(counts)
    expected = 0.01 * torch.sign(counts.float().mean() - counts.float())
    assert torch.equal(router.selection_bias, expected)
    assert out.traces[0].probs.sum(-1).allclose(torch.ones(4, 16))  # a distribution for the balancing statistics
