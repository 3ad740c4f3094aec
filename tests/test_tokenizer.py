"""The shipped byte-level BPE tokenizer: lossless for any text, readable token labels."""
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.tokenizer import load_tokenizer, token_label, train_tokenizer

TOKENIZER = load_tokenizer()

ODD_TEXTS = [
    "",
    "plain English, with punctuation!",
    "Съешь же ещё этих мягких французских булок",
    "def f(x):\n\treturn x ** 2  # comment\r\n",
    "emoji 🎉👩‍👩‍👧 flags 🇷🇺 skin 👍🏽",
    "combining e\u0301 a\u0308 zero\u200bwidth \ufeffbom",
    "right-to-left שלום مرحبا",
    "controls \x00\x01\x07\x1b[31m\x7f NUL",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010ffff private \ue000",
]


def test_round_trip_on_odd_unicode():
    for text in ODD_TEXTS:
        assert TOKENIZER.decode(TOKENIZER.encode(text).ids, skip_special_tokens=False) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200))
def test_round_trip_on_random_text(text):
    assert TOKENIZER.decode(TOKENIZER.encode(text).ids, skip_special_tokens=False) == text


def test_token_labels_make_whitespace_visible():
    ids = TOKENIZER.encode("a b\n\tc").ids
    labels = "".join(token_label(TOKENIZER, i) for i in ids)
    assert labels == "a␣b↵⇥c"


def test_multi_domain_vocabulary_is_used():
    # a trained tokenizer compresses each domain well below one token per byte
    for text in ("the quick brown fox jumps over", "быстрая коричневая лиса прыгает", "    return self._value"):
        assert len(TOKENIZER.encode(text).ids) < 0.5 * len(text.encode())


def test_training_a_tokenizer_from_files(tmp_path):
    corpus = tmp_path / "a.txt"
    corpus.write_text("hello hello world\n" * 50 + "привет мир\n" * 50)
    tok = train_tokenizer([corpus], vocab_size=300)
    assert tok.get_vocab_size() <= 300
    assert tok.decode(tok.encode("привет hello 🎉").ids) == "привет hello 🎉"
