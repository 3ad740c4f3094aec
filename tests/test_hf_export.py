"""The whole-model golden test: our networks exported to transformers' Mixtral and Llama formats give the
same logits in transformers' own implementation, and the exported checkpoint loads like any hub model."""
import pytest
import torch

from conftest import tiny_config
from models.transformer import Transformer
from models.zoo import load_member

transformers = pytest.importorskip("transformers")
from models.hf_export import export, to_hf  # noqa: E402


@pytest.mark.parametrize("changes", [dict(), dict(tie_embeddings=False), dict(ffn_kind="moe"),
                                     dict(ffn_kind="moe", n_experts=8, top_k=3)])
def test_tiny_models_equal_transformers_forward(changes):
    model = Transformer(tiny_config(**changes)).eval()
    ids = torch.randint(0, 97, (2, 24))
    with torch.no_grad():
        torch.testing.assert_close(to_hf(model)(ids).logits, model(ids).logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["dense", "moe-32"])  # the bias-balanced members have no Mixtral equivalent
def test_a_zoo_member_exported_to_disk_loads_in_transformers_with_the_same_logits(name, tmp_path):
    member = load_member(name)
    export(member.model, tmp_path)
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    text = "def add(a, b):\n    return a + b  # сумма"
    ids = tokenizer(text, return_tensors="pt").input_ids
    assert ids[0].tolist() == member.tokenizer.encode(text).ids  # the same tokenizer
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, member.model(ids).logits, rtol=1e-4, atol=1e-4)
    assert type(hf).__name__ == ("MixtralForCausalLM" if name.startswith("moe") else "LlamaForCausalLM")


def test_configs_without_an_equivalent_are_refused():
    with pytest.raises(ValueError, match="no Mixtral equivalent|has a Mixtral equivalent"):
        to_hf(Transformer(tiny_config(ffn_kind="moe", router="bias")))
