"""Interventions on the routing (ablate, force, sweep top-K) with exact expectations on the shipped zoo."""
from dataclasses import replace

import pytest
import torch

from backend.analysis import Settings, analyze_text
from backend.interventions import ablate, expert_importance, force, top_k_sweep
from errors import UserError
from models.zoo import load_member
from routing.options import RoutingOptions
from viz.intervention_views import sweep_table

TEXT = "def area(r):\n    return 3.14159 * r * r\n\nprint(area(2))\n"


@pytest.fixture(scope="module")
def moe8():
    member = load_member("moe-8")
    ids = torch.tensor([member.tokenizer.encode(TEXT).ids])
    with torch.no_grad():
        out = member.model(ids, routing=RoutingOptions(), trace=True)
    return member.model, ids, out


def logits(model, ids, **routing):
    with torch.no_grad():
        return model(ids, routing=RoutingOptions(**routing)).logits


@pytest.mark.parametrize("mode", ["reroute", "zero"])
def test_ablating_an_expert_no_token_chose_changes_nothing(moe8, mode):
    model, ids, _ = moe8
    ids = ids[:, :3]  # 3 tokens x top-2 cannot reach all 8 experts of a layer
    with torch.no_grad():
        out = model(ids, routing=RoutingOptions(), trace=True)
    unchosen = [(t.layer, e) for t in out.traces for e in range(8) if t.expert_counts()[e] == 0]
    assert len(unchosen) >= 4 * 2
    for layer, expert in unchosen[::3]:
        mask = torch.zeros(4, 8, dtype=torch.bool)
        mask[layer, expert] = True
        assert torch.equal(logits(model, ids, ablation=mask, ablation_mode=mode), out.logits)


def test_ablating_a_chosen_expert_changes_the_routing_or_the_output(moe8):
    model, ids, out = moe8
    expert = int(out.traces[0].expert_idx[0, 0, 0])  # the first token's first choice in layer 0
    mask = torch.zeros(4, 8, dtype=torch.bool)
    mask[0, expert] = True
    with torch.no_grad():
        rerouted = model(ids, routing=RoutingOptions(ablation=mask), trace=True)
    assert not (rerouted.traces[0].expert_idx == expert).any()  # nobody may choose it
    assert not torch.equal(rerouted.logits, out.logits)
    zeroed = model(ids, routing=RoutingOptions(ablation=mask, ablation_mode="zero"), trace=True)
    assert torch.equal(zeroed.traces[0].expert_idx, out.traces[0].expert_idx)  # same choices, output dropped
    assert torch.equal(zeroed.traces[0].dropped, out.traces[0].expert_idx == expert)


def test_forcing_every_token_to_its_own_top_k_equals_no_forcing(moe8):
    model, ids, out = moe8
    forced = torch.stack([t.expert_idx[0] for t in out.traces])  # (L, T, K)
    assert torch.equal(logits(model, ids, forced=forced), out.logits)


def test_ablating_all_but_k_experts_with_top_k_k_equals_forcing_those_k(moe8):
    model, ids, _ = moe8
    keep = [2, 5]
    mask = torch.ones(4, 8, dtype=torch.bool)
    mask[:, keep] = False
    forced = torch.tensor(keep).expand(4, ids.shape[1], 2).clone()
    torch.testing.assert_close(logits(model, ids, top_k=2, ablation=mask), logits(model, ids, top_k=2, forced=forced),
                               rtol=0, atol=1e-6)


def test_the_sweep_at_the_trained_k_equals_the_plain_analysis():
    sweep = top_k_sweep(TEXT, Settings(n_experts=4), measure=False)
    plain = analyze_text(TEXT, Settings(n_experts=4, top_k=2))
    assert [p.k for p in sweep.points] == [1, 2, 3, 4] and sweep.trained_k == 2
    assert sweep.points[1].mean_loss == plain.moe.mean_loss
    assert sweep.points[1].active_params == plain.moe.active_params
    assert sweep.dense["dense"].mean_loss == plain.models[0].mean_loss
    assert sweep.points[0].active_params < sweep.points[3].active_params and sweep.points[0].decode_tokens_per_s is None


def test_the_sweep_table_has_a_decode_column_only_once_the_sweep_is_timed():
    sweep = top_k_sweep(TEXT, Settings(n_experts=4), measure=False)
    assert list(sweep_table(sweep).columns) == ["model", "mean loss (nats/token)", "perplexity", "active parameters (M)"]
    timed = replace(sweep, points=[replace(p, decode_tokens_per_s=100.0 + p.k) for p in sweep.points])
    assert sweep_table(timed)["decode (tokens/s, median)"].tolist()[:4] == [101, 102, 103, 104]


def test_importance_rows_equal_single_ablations():
    settings = Settings(n_experts=4, top_k=2)
    importance = expert_importance(TEXT, settings)
    assert len(importance.increase) == 4 and len(importance.increase[0]) == 4
    for layer, expert in [(0, 1), (3, 2)]:
        single = ablate(TEXT, settings, layer, [expert])
        assert importance.increase[layer][expert] == pytest.approx(single.mean_after - single.mean_before, abs=1e-5)
        assert importance.hurt_tokens[layer][expert][0].change == pytest.approx(single.most_affected[0].change, abs=1e-4)


def test_ablation_report_counts_the_load_after_rerouting():
    report = ablate(TEXT, Settings(n_experts=8, top_k=2), None, [0, 1])
    assert all(load[0] == 0 and load[1] == 0 for load in report.load_after)  # nobody reaches them
    assert [sum(load) for load in report.load_after] == [sum(load) for load in report.load_before]
    assert report.most_affected == sorted(report.most_affected, key=lambda r: -abs(r.change))


@pytest.mark.parametrize("call,message", [
    (lambda: ablate(TEXT, Settings(), 4, [0]), "layer must be an integer between 0 and 3"),
    (lambda: ablate(TEXT, Settings(), None, [8]), "expert must be an integer between 0 and 7"),
    (lambda: ablate(TEXT, Settings(), None, []), "experts: choose at least one"),
    (lambda: ablate(TEXT, Settings(), None, [1, 1]), "experts must be different"),
    (lambda: ablate(TEXT, Settings(), None, list(range(7))), "re-routing needs top-K = 2 experts left"),
    (lambda: ablate(TEXT, Settings(), 0, [1], "half"), "mode must be one of"),
    (lambda: force(TEXT, Settings(), [1]), "choose exactly top-K = 2 experts"),
    (lambda: force(TEXT, Settings(), [1, 2], start=5, end=2), "end position must be an integer between 5"),
    (lambda: force(TEXT, Settings(), [1, 2], start=-1), "start position must be"),
])
def test_bad_indices_get_a_message_naming_the_field(call, message):
    with pytest.raises(UserError, match=message):
        call()


def test_masks_of_the_wrong_shape_or_experts_are_refused_by_the_model(moe8):
    model, ids, _ = moe8
    with pytest.raises(ValueError, match=r"ablation must be a bool mask of shape \(layers=4, experts=8\)"):
        logits(model, ids, ablation=torch.zeros(4, 7, dtype=torch.bool))
    with pytest.raises(ValueError, match="forced experts must be between 0 and 7"):
        logits(model, ids, forced=torch.full((4, ids.shape[1], 2), 9))
    with pytest.raises(ValueError, match="top_k different experts"):
        logits(model, ids, forced=torch.full((4, ids.shape[1], 2), 3))


def test_an_expert_no_token_uses_has_exactly_zero_importance():
    text = "x = 1"
    importance = expert_importance(text, Settings(n_experts=16, top_k=2))
    ids = load_member("moe-16").tokenizer.encode(text).ids
    with torch.no_grad():
        traces = load_member("moe-16").model(torch.tensor([ids]), trace=True).traces
    unused = [(t.layer, e) for t in traces for e in range(16) if t.expert_counts()[e] == 0]
    assert unused and all(importance.increase[layer][e] == 0.0 for layer, e in unused)


def test_a_sweep_over_many_experts_takes_a_spread_of_k_unless_asked_for_every_k():
    from backend.interventions import sweep_ks
    assert sweep_ks(64, 8) == [1, 2, 4, 8, 16, 32, 64]
    assert sweep_ks(60, 6) == [1, 2, 4, 6, 8, 16, 32, 60]  # E itself and the trained K are always in
    assert sweep_ks(64, 8, every=True) == list(range(1, 65))
    assert sweep_ks(32, 8) == list(range(1, 33))  # the zoo's largest: every K


def test_a_sweep_or_an_importance_run_stops_when_its_session_asks_and_only_then():
    """The Stop button's flag is read between forward passes: the run ends, nothing is redrawn, a notice says so;
    another session's run goes on."""
    from types import SimpleNamespace
    import gradio as gr
    from page import interventions
    mine, other = SimpleNamespace(session_hash="a"), SimpleNamespace(session_hash="b")
    passes = []

    def bar(fraction, desc=""):
        passes.append(desc)
        interventions.on_stop(mine)  # the user presses Stop while the first pass runs

    with pytest.warns(UserWarning, match="Stopped at your request"):  # gr.Warning outside a page: a Python warning
        out = interventions.on_importance_button("def f(x): return x + 1", 8, 2, "", mine, bar)
    assert isinstance(out, type(gr.skip())) and len(passes) == 1  # stopped before its second pass
    figure = interventions.on_importance_button("def f(x): return x + 1", 8, 2, "", other, lambda *a, **k: None)
    assert figure.data  # the other session was never asked to stop
    again = interventions.on_importance_button("def f(x): return x + 1", 8, 2, "", mine, lambda *a, **k: None)
    assert again.data  # a new run of the stopped session starts afresh
