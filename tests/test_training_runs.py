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
