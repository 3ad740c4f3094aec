"""The balancing runs and the live mini run, end to end on tiny settings, through the one log schema."""
import math

import pytest
import torch

from conftest import tiny_config
from errors import UserError
from training.balancing import VARIANTS, final_figures
from training.live import MAX_STEPS, live_run
from training.log import TrainLog, read_run_log
from training.train import TrainConfig, run

STREAM = torch.randint(0, 97, (40,)).repeat(100)


@pytest.mark.parametrize("variant", ["aux", "capacity"])
def test_a_tiny_balancing_run_logs_and_parses_through_the_schema(variant, tmp_path):
    changes = next(v for v in VARIANTS if v.name == variant).config
    cfg = tiny_config(ffn_kind="moe", n_experts=8, context_length=32).replace(**changes)
    tc = TrainConfig(steps=25, batch_size=4, warmup_steps=5, seed=2)
    evaluation = run(cfg, tc, tmp_path, (STREAM, {"phrase": STREAM[:300]}), checkpoint=False)
    log = read_run_log(tmp_path)
    assert not (tmp_path / "model.safetensors").exists()  # logs only
    assert (log.n_layers, log.n_experts, log.steps) == (cfg.n_layers, 8, list(range(25)))
    for step in range(25):
        for layer in range(cfg.n_layers):
            assert sum(s[step] for s in log.shares(layer)) == pytest.approx(1.0, abs=1e-4)
    assert log.info["held_out"]["overall"]["loss"] == pytest.approx(evaluation["overall"]["loss"])
    figures = final_figures(log)
    assert figures["held_out_loss"] == pytest.approx(evaluation["overall"]["loss"])
    assert figures["steps"] == 25 and 0 <= figures["min_share"] <= 1 / 8 <= figures["max_share"] <= 1
    dropped = figures["dropped_fraction"]
    assert dropped > 0 if variant == "capacity" else dropped == 0  # capacity 1.25 on 128 tokens drops some
    # the curve's dead-expert count is the sum over layers of each row's per-layer counts
    assert log.layer_sum("dead_experts")[-1] == sum(log.rows[-1][f"l{i}_dead_experts"] for i in range(cfg.n_layers))


def test_live_run_starts_reports_each_step_and_stops_when_closed():
    rows = live_run("aux", steps=30)
    first = [next(rows) for _ in range(5)]
    log = TrainLog(first)
    assert log.steps == [0, 1, 2, 3, 4] and log.n_layers == 2 and log.n_experts == 8
    assert all(math.isfinite(r["loss"]) for r in first)
    rows.close()  # the page's Stop: the run ends where it is
    with pytest.raises(StopIteration):
        next(rows)


@pytest.mark.parametrize("method,steps,message", [("aux", 5, "steps must be"), ("aux", MAX_STEPS + 1, "steps must be"),
                                                  ("dropout", 20, "method must be one of")])
def test_live_run_refuses_bad_settings_before_training(method, steps, message):
    with pytest.raises(UserError, match=message):
        live_run(method, steps)


def test_variants_are_compared_with_the_unbalanced_run_against_the_seed_spread():
    from training.balancing import compared_with

    def summary(mean, std, seeds=2):
        return {"held_out_loss": {"mean": mean, "std": std}, "seeds": list(range(seeds))}

    none = summary(4.70, 0.02)
    assert compared_with(summary(4.74, 0.001), none)["verdict"] == "worse"  # 0.04 > 2 x 0.02
    assert compared_with(summary(4.72, 0.01), none)["verdict"] == "tie"
    assert compared_with(summary(4.60, 0.01), none)["verdict"] == "better"
    assert compared_with(summary(4.60, 0.0, seeds=1), none)["verdict"] == "tie"  # one seed tells nothing


def test_the_findings_follow_the_numbers():
    from viz.balancing_views import balancing_findings

    def summary(loss, cv=0.5, dead=1.0, dropped=0.0):
        stat = lambda v: {"mean": v, "std": 0.01}  # noqa: E731
        return {"held_out_loss": stat(loss), "load_cv": stat(cv), "dead_experts": stat(dead), "dropped_fraction": stat(dropped),
                "seeds": [1, 2], "steps": 300, "expert_slots": 32}

    summaries = {"none": summary(4.70, cv=0.8, dead=2.0), "aux": summary(4.60, cv=0.2, dead=0.0),
                 "capacity": summary(4.90, dropped=0.05)}
    versus = {"aux": {"difference": -0.1, "verdict": "better"}, "capacity": {"difference": 0.2, "verdict": "worse"}}
    text = balancing_findings(summaries, versus)
    assert "Better beyond the seed spread: aux" in text and "Worse: capacity (+0.200)" in text
    assert "load CV from 0.80 to 0.20" in text and "capacity drops 5.0% of assignments (+0.200 nats/token vs none)" in text
    assert "here aux lowered the loss" in text and "stability fix" in text
