"""Each model continues the text: greedy is reproducible and equals argmax decoding, sampling follows its seed,
the MoE's experts per generated token are those of a forward pass, and bad settings name the field."""
import pytest
import torch

from backend.analysis import Settings
from errors import UserError
from backend.generation import continue_text
from models.zoo import load_member
from page import compare

TEXT = "def add(a, b):\n    return a + b"


def test_greedy_continuations_are_the_argmax_path_of_every_model():
    report = continue_text(TEXT, Settings(n_experts=8, top_k=2), max_new_tokens=6)
    assert [c.model for c in report.continuations] == ["moe-8", "dense", "dense-wide"]
    for c in report.continuations:
        member = load_member(c.model)
        ids = torch.tensor([member.tokenizer.encode(TEXT).ids])
        for new in c.token_ids:  # each generated token is the argmax after everything before it
            with torch.no_grad():
                assert int(member.model(ids).logits[0, -1].argmax()) == new
            ids = torch.cat([ids, torch.tensor([[new]])], 1)
        assert len(c.tokens) == 6 and c.tokens_per_s > 0
    moe = report.continuations[0]
    assert len(moe.experts) == 4 and all(len(layer) == 6 for layer in moe.experts)
    assert report.continuations[1].experts is None


def test_sampling_follows_its_seed_and_top_k_changes_the_moe():
    a = continue_text(TEXT, Settings(), 12, temperature=1.0, seed=3)
    b = continue_text(TEXT, Settings(), 12, temperature=1.0, seed=3)
    c = continue_text(TEXT, Settings(), 12, temperature=1.0, seed=4)
    assert [x.token_ids for x in a.continuations] == [x.token_ids for x in b.continuations]
    assert [x.token_ids for x in a.continuations] != [x.token_ids for x in c.continuations]
    one = continue_text(TEXT, Settings(top_k=1), 12)
    two = continue_text(TEXT, Settings(top_k=2), 12)
    assert one.continuations[0].experts != two.continuations[0].experts


@pytest.mark.parametrize("kwargs,message", [(dict(max_new_tokens=0), "new tokens must be"),
                                            (dict(max_new_tokens=65), "new tokens must be"),
                                            (dict(temperature=-1.0), "temperature must be"),
                                            (dict(seed=-2), "seed must be")])
def test_bad_settings_name_the_field(kwargs, message):
    with pytest.raises(UserError, match=message):
        continue_text(TEXT, Settings(), **kwargs)


def test_the_page_shows_each_model_with_its_speed():
    html = compare.on_generate(TEXT, 8, 2, 0, 0.0, 0, 1, "zoo", "zoo", 8, 0.0, 0)
    assert all(name in html for name in ("moe-8", "dense", "dense-wide")) and "tokens/s" in html
    assert "expert" in html and "greedy" in html
