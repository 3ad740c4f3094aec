"""The training-speed benchmark's bookkeeping on tiny members (the matmul ceiling stubbed: it takes seconds)."""
import json

import pytest

from benchmarks import training_speed
from conftest import tiny_config
from models.params import config_flops


def test_every_member_is_timed_at_the_asked_batch_and_compared_with_the_dense_step(tmp_path, monkeypatch):
    monkeypatch.setattr(training_speed, "matmul_ceiling", lambda: 1e11)
    configs = {"dense": tiny_config(vocab_size=4096, context_length=256),
               "moe-4": tiny_config(vocab_size=4096, context_length=256, ffn_kind="moe")}
    for name, cfg in configs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(cfg.to_dict()))
    result = training_speed.measure(tmp_path, steps=4, warmup=1, batch_size=3)
    assert result["batch"] == "3 x 256" and set(result["members"]) == {"dense", "moe-4"}
    dense, moe = result["members"]["dense"], result["members"]["moe-4"]
    assert dense["step_over_dense"] == 1.0 and moe["is_moe"] and not dense["is_moe"]
    assert moe["flops_per_step"] == 3 * config_flops(configs["moe-4"], 256) * 3 * 256
    assert moe["step_over_dense"] == dense["tokens_per_s"] / moe["tokens_per_s"]
    assert moe["mfu"] == pytest.approx(moe["tokens_per_s"] * 3 * config_flops(configs["moe-4"], 256) / 1e11, rel=1e-12)
    assert "| moe-4 |" in training_speed.report(result) and "batch 3 x 256 tokens" in training_speed.report(result)
