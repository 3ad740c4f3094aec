"""Every shipped zoo member loads with its tokenizer and matches its config and its twins."""
import json
import shutil

import pytest
import torch

from models.checkpoint import CheckpointError, load_config
from models.params import breakdown, count_params
from models.zoo import SPECS, load_member, read_member, zoo_names
from paths import zoo_dir
from scale.presets import load_preset, preset_names


@pytest.mark.parametrize("name", zoo_names())
def test_member_loads_and_parameter_counts_match(name):
    member = load_member(name)
    assert member.model.cfg == SPECS[name].config == load_config(zoo_dir() / name)
    assert sum(p.numel() for p in member.model.parameters()) == count_params(member.model.cfg).total.total
    info = json.loads((zoo_dir() / name / "eval.json").read_text())
    assert set(info["held_out"]) == {"english", "russian", "python", "arithmetic", "overall"}
    assert info["held_out"]["overall"]["loss"] < 6.0  # far below the uniform-guess loss ln(4096) = 8.3
    ids = torch.tensor([member.tokenizer.encode("def main():\n    print('hello')").ids])
    with torch.no_grad():
        assert torch.isfinite(member.model(ids).logits).all()


def test_moes_are_compute_matched_and_dense_wide_parameter_matched():
    dense = count_params(SPECS["dense"].config)
    for name in ("moe-4", "moe-8", "moe-16", "moe-32"):
        moe = count_params(SPECS[name].config)
        assert moe.active.total - moe.active.router == dense.active.total
    wide = count_params(SPECS["dense-wide"].config).total.total
    for name in ("moe-8", "moe-32"):  # 8 x 256 and 32 x 64: the same 2048 units of expert width in all
        moe = count_params(SPECS[name].config)
        assert wide == moe.total.total - moe.total.router


def test_unknown_member_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'gpt-4'"):
        load_member("gpt-4")


def test_shipped_checkpoints_fit_the_budget():
    total = sum((zoo_dir() / n / "model.safetensors").stat().st_size for n in zoo_names())
    assert total <= 60e6  # the zoo's budget: 60 MB in all


@pytest.mark.parametrize("name", zoo_names())
def test_the_scale_tabs_zoo_presets_count_what_the_modules_hold(name):
    spec = load_preset(f"zoo:{name}").spec
    assert breakdown(spec).total == sum(p.numel() for p in load_member(name).model.parameters())


def test_the_zoo_directory_is_honoured_everywhere(tmp_path, monkeypatch):
    shutil.copytree(zoo_dir() / "moe-4", tmp_path / "moe-4")
    monkeypatch.setenv("MOE_ZOO_DIR", str(tmp_path))
    assert zoo_dir() == tmp_path
    assert [n for n in preset_names() if n.startswith("zoo:")] == ["zoo:moe-4"]
    assert load_preset("zoo:moe-4").spec.moe_layers[0].ffn.n_experts == 4
    assert read_member("moe-4").model.cfg == SPECS["moe-4"].config
    with pytest.raises(CheckpointError, match="missing"):
        read_member("moe-8")
