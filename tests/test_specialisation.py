"""Specialisation statistics on hand-built routing traces with known answers."""
import math
import random

import pytest
import torch

from routing.specialisation import (coactivation, confidence, expert_shares, load_first_baseline, repeat_rates,
                                    top_tokens, uniform_any_baseline, uniform_first_baseline)

IDX = torch.tensor([[0, 1], [0, 2], [3, 1], [3, 0]])  # (T=4, K=2), E=4


def test_expert_shares():
    assert expert_shares(IDX, 4).tolist() == [3 / 8, 2 / 8, 1 / 8, 2 / 8]


def test_repeat_rates_on_known_sequence():
    first, shared = repeat_rates(IDX)
    # first choices 0,0,3,3: pairs (0,0) (0,3) (3,3) -> 2/3; any overlap: {0,1}{0,2} yes, {0,2}{3,1} no, {3,1}{3,0} yes
    assert first == pytest.approx(2 / 3) and shared == pytest.approx(2 / 3)
    assert all(math.isnan(r) for r in repeat_rates(IDX[:1]))


def test_uniform_baselines_closed_form_and_simulation():
    assert uniform_first_baseline(8) == 1 / 8
    assert uniform_any_baseline(8, 2) == pytest.approx(1 - 15 / 28)
    assert uniform_any_baseline(4, 3) == 1.0 and uniform_any_baseline(8, 1) == pytest.approx(1 / 8)
    rng = random.Random(1)
    hits = sum(bool(set(rng.sample(range(16), 4)) & set(rng.sample(range(16), 4))) for _ in range(20000))
    assert hits / 20000 == pytest.approx(uniform_any_baseline(16, 4), abs=0.01)


def test_load_baseline_is_sum_of_squared_first_choice_shares():
    assert load_first_baseline(IDX, 4) == pytest.approx(0.5**2 + 0.5**2)
    assert load_first_baseline(torch.tensor([[0], [0], [0], [1]]), 2) == pytest.approx(0.625)
    # an independent random sequence with those loads repeats at that rate
    g = torch.Generator().manual_seed(0)
    seq = torch.multinomial(torch.tensor([0.7, 0.2, 0.1]), 20000, replacement=True, generator=g)[:, None]
    assert repeat_rates(seq)[0] == pytest.approx(load_first_baseline(seq, 3), abs=0.01)


def test_coactivation_counts_pairs_within_a_token():
    co = coactivation(IDX, 4)
    assert co[0, 1] == co[1, 0] == 1 and co[0, 2] == 1 and co[3, 1] == 1 and co[3, 0] == 1 and co[1, 2] == 0
    assert torch.diagonal(co).tolist() == [3, 2, 1, 2]


def test_top_tokens_counts_and_shares():
    ids = torch.tensor([7, 7, 7, 7, 7, 9, 9, 9, 9, 9, 5])
    idx = torch.tensor([[1], [1], [1], [0], [1], [1], [0], [0], [0], [0], [1]])
    assert top_tokens(ids, idx, expert=1, min_count=5) == [(7, 4, 0.8), (9, 1, 0.2)]  # token 5 too rare
    assert top_tokens(ids, idx, expert=0, n=1, min_count=1) == [(9, 4, 0.8)]


def test_confidence_on_uniform_and_certain_routers():
    top1, entropy = confidence(torch.full((3, 8), 1 / 8))
    assert torch.allclose(top1, torch.full((3,), 1 / 8, dtype=torch.float64))
    assert torch.allclose(entropy, torch.full((3,), math.log(8), dtype=torch.float64))
    top1, entropy = confidence(torch.tensor([[1.0, 0.0, 0.0]]))
    assert top1.item() == 1.0 and entropy.item() == pytest.approx(0.0, abs=1e-9)


def test_backend_statistics_on_a_real_model_hold_their_identities():
    """analyse_groups on moe-4: shares are distributions, co-activation's diagonal is K x the share, repeat
    rates and baselines are rates, histograms sum to 1, the shuffled baseline sees the same tokens."""
    from backend.specialisation import analyse_groups, text_specialisation
    from models.zoo import load_member
    from routing.options import RoutingOptions

    tokenizer = load_member("moe-4").tokenizer
    ids = torch.tensor([tokenizer.encode("def f(x):\n    return x + 1\n" * 6).ids[:64]])
    report = analyse_groups("moe-4", {"code": ids, "again": ids}, seed=1)
    assert (report.n_experts, report.top_k, report.tokens) == (4, 2, {"code": ids.numel(), "again": ids.numel()})
    for layer in report.layers:
        assert layer.shares["code"] == pytest.approx(layer.shares["again"])  # same tokens, same routing
        assert sum(layer.shares["code"]) == pytest.approx(1.0)
        for i in range(4):
            assert layer.coactivation[i][i] == pytest.approx(2 * layer.shares["code"][i])
        r = layer.repeats["code"]
        assert all(0 <= v <= 1 for v in (r.first, r.any, r.shuffled_first, r.shuffled_any, r.load_first))
        assert r.first <= r.any and layer.uniform_first == pytest.approx(0.25)
        assert sum(layer.top1_hist["code"]) == pytest.approx(1.0) and 0.25 <= layer.mean_top1["code"] <= 1.0  # the largest of 4 probabilities
    one = text_specialisation("moe-4", ids[0].tolist(), RoutingOptions(top_k=1))
    assert one.top_k == 1 and one.tokens == {"your text": 64}
    assert any(experts for experts in one.layers[0].top_tokens)  # repeated tokens are listed


def test_conditional_information_is_zero_when_the_token_decides_and_the_null_removes_the_bias():
    from routing.specialisation import conditional_mutual_information, lookup_accuracy, permuted_within

    gen = torch.Generator().manual_seed(0)
    tokens, domains = torch.randint(0, 50, (6000,), generator=gen), torch.randint(0, 4, (6000,), generator=gen)
    by_token = tokens % 8
    assert conditional_mutual_information(tokens, by_token, domains, 8, 4) == pytest.approx(0.0, abs=1e-12)
    by_domain = 2 * domains + torch.randint(0, 2, (6000,), generator=gen)  # the domain alone decides (and a coin)
    measured = conditional_mutual_information(tokens, by_domain, domains, 8, 4)
    assert measured == pytest.approx(math.log(4), abs=0.03)
    shuffled = permuted_within(tokens, domains, gen)
    for t in range(5):  # each token keeps its own domain counts
        assert torch.equal(torch.bincount(shuffled[tokens == t], minlength=4), torch.bincount(domains[tokens == t], minlength=4))
    null = conditional_mutual_information(tokens, by_domain, shuffled, 8, 4)
    assert 0 < null < 0.2 * measured  # the plug-in bias the null measures
    halves = torch.rand(6000, generator=gen) < 0.5
    assert lookup_accuracy(tokens, by_token, 8, 50, halves) == 1.0
    assert lookup_accuracy(tokens, by_domain, 8, 50, halves) < 0.3


def test_findings_change_with_the_numbers():
    import json

    from paths import RESULTS
    from viz.specialisation_views import findings_text

    report = json.loads((RESULTS / "routing_analysis.json").read_text())[1]
    text = findings_text(report)
    assert f"{100 * report['layers'][0]['lookup_accuracy']:.0f}%" in text and "Above the shuffles' 95th percentile" in text
    for layer in report["layers"]:  # a model whose domain information is within its null
        layer["domain_information"] |= {"measured": layer["domain_information"]["null_mean"]}
    assert "Nowhere above the null" in findings_text(report)
