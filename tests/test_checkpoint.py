"""Checkpoints round-trip exactly; broken ones fail with a message naming the file and tensor."""
import json

import pytest
import torch

from conftest import tiny_config
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.transformer import Transformer


def test_save_load_round_trip_including_router_bias(tmp_path):
    model = Transformer(tiny_config(ffn_kind="moe", router="bias")).eval()
    model.moe_layers()[1].router.update_bias(torch.tensor([5, 0, 0, 0]))
    save_checkpoint(model, tmp_path)
    loaded = load_checkpoint(tmp_path)
    assert loaded.cfg == model.cfg
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    ids = torch.randint(0, 97, (1, 16))
    assert torch.equal(model(ids).logits, loaded(ids).logits)


def test_half_precision_storage_loads_into_fp32(tmp_path):
    model = Transformer(tiny_config())
    save_checkpoint(model, tmp_path, dtype=torch.bfloat16)
    loaded = load_checkpoint(tmp_path)
    assert loaded.embed.weight.dtype == torch.float32
    torch.testing.assert_close(loaded.embed.weight, model.embed.weight, atol=1e-2, rtol=1e-2)


def test_broken_checkpoints_name_the_problem(tmp_path):
    save_checkpoint(Transformer(tiny_config()), tmp_path)
    weights = tmp_path / "model.safetensors"
    good = weights.read_bytes()

    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors: cannot read weights"):
        load_checkpoint(tmp_path)

    weights.write_bytes(good)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "d_ff": 50}))
    with pytest.raises(CheckpointError, match=r"tensor 'blocks.0.ffn.w_gate' has shape \(48, 32\), config needs \(50, 32\)"):
        load_checkpoint(tmp_path)

    (tmp_path / "config.json").write_text(json.dumps({**config, "n_layers": 3}))
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path)

    (tmp_path / "config.json").write_text(json.dumps({**config, "colour": "red"}))
    with pytest.raises(CheckpointError, match="unknown config field"):
        load_checkpoint(tmp_path)

    (tmp_path / "config.json").write_text(json.dumps({**config, "d_model": "wide"}))
    with pytest.raises(CheckpointError, match="'d_model' must be int"):
        load_checkpoint(tmp_path)

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path)

    with pytest.raises(CheckpointError, match="config file is missing"):
        load_checkpoint(tmp_path / "nowhere")
