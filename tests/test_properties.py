"""Property-based tests of the backend: random text and random valid settings never raise, and the
report's invariants hold."""
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.analysis import EXPERT_CHOICES, InputError, Settings, analyze_text


@st.composite
def valid_settings(draw):
    e = draw(st.sampled_from(EXPERT_CHOICES))
    return Settings(
        n_experts=e,
        top_k=draw(st.integers(1, e)),
        capacity_factor=draw(st.one_of(st.none(), st.floats(0.05, 4.0))),
        noise_std=draw(st.floats(0.0, 10.0)),
        noise_seed=draw(st.integers(0, 2**63 - 1)),
    )


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=300)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT, s=valid_settings())
def test_report_invariants_on_random_text_and_settings(text, s):
    try:
        report = analyze_text(text, s)
    except InputError as e:
        assert not text.strip() and "empty" in str(e)
        return
    t = len(report.tokens)
    assert 1 <= t <= 256 and len(report.token_ids) == t
    for layer in report.routing:
        assert len(layer.expert_idx) == t
        assert sum(layer.load) == sum(not d for row in layer.dropped for d in row)
        for idx, weights, dropped, probs in zip(layer.expert_idx, layer.gate_weights, layer.dropped, layer.probs):
            assert len(idx) == s.top_k == len(set(idx)) and all(0 <= e < s.n_experts for e in idx)
            assert abs(sum(weights) - 1) < 1e-4  # the zoo renormalises the K gate weights (dropped slots included)
            assert abs(sum(probs) - 1) < 1e-4
        if layer.capacity is not None:
            assert max(layer.load) <= layer.capacity
        else:
            assert not any(d for row in layer.dropped for d in row)
    for m in report.models:
        assert m.active_params <= m.total_params
        assert all(x is None or (math.isfinite(x) and x >= 0) for x in m.token_losses)


def test_sentencepiece_pieces_read_as_text():
    """Llama/Mixtral-style tokenizers: the metaspace is a space, <0xNN> pieces are bytes joined into characters."""
    from tokenizers import Tokenizer, models
    from corpus.tokenizer import CONTINUATION, token_labels
    vocab = {"<unk>": 0, "▁the": 1, "▁cat": 2, "<0xE2>": 3, "<0x82>": 4, "<0xAC>": 5, "▁": 6}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    assert token_labels(tokenizer, [1, 2, 6, 3, 4, 5]) == ["␣the", "␣cat", "␣", "€", CONTINUATION, CONTINUATION]
