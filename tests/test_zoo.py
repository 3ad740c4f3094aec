"""Every shipped zoo member loads with its tokenizer and matches its config and its twins."""
import json

import pytest
import torch

from models.checkpoint import load_config
from models.params import count_params
from models.zoo import SPECS, ZOO_DIR, load_member, zoo_names


@pytest.mark.parametrize("name", zoo_names())
def test_member_loads_and_parameter_counts_match(name):
    member = load_member(name)
    assert member.model.cfg == SPECS[name].config == load_config(ZOO_DIR / name)
    assert sum(p.numel() for p in member.model.parameters()) == count_params(member.model.cfg).total.total
    info = json.loads((ZOO_DIR / name / "eval.json").read_text())
    assert set(info["held_out"]) == {"english", "russian", "python", "arithmetic", "overall"}
    assert info["held_out"]["overall"]["loss"] < 6.0  # far below the uniform-guess loss ln(4096) = 8.3
    ids = torch.tensor([member.tokenizer.encode("def main():\n    print('hello')").ids])
    with torch.no_grad():
        assert torch.isfinite(member.model(ids).logits).all()


def test_moes_are_compute_matched_and_dense_wide_parameter_matched():
    dense = count_params(SPECS["dense"].config)
    for name in ("moe-4", "moe-8", "moe-16"):
        moe = count_params(SPECS[name].config)
        assert moe.active.total - moe.active.router == dense.active.total
    assert count_params(SPECS["dense-wide"].config).total.total == count_params(SPECS["moe-8"].config).total.total - count_params(SPECS["moe-8"].config).total.router


def test_unknown_member_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'gpt-4'"):
        load_member("gpt-4")


def test_shipped_checkpoints_fit_the_budget():
    total = sum((ZOO_DIR / n / "model.safetensors").stat().st_size for n in zoo_names())
    assert total <= 40 * 2**20


@pytest.mark.parametrize("name", zoo_names())
def test_scale_calculator_agrees_with_the_loaded_modules(name):
    from models.presets import load_preset
    from models.scale import active_params, breakdown

    spec = load_preset(f"zoo:{name}").spec
    model = load_member(name).model
    assert breakdown(spec).total == sum(p.numel() for p in model.parameters())
    assert active_params(spec, "all") == count_params(model.cfg).active.total
