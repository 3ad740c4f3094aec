"""The shipped byte-level BPE tokenizer: lossless for any text, readable token labels."""
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.tokenizer import CONTINUATION, load_tokenizer, token_label, token_labels, train_tokenizer

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


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")).filter(
    lambda c: c.isprintable() and c != CONTINUATION), max_size=60))
def test_sequence_labels_show_every_character_once_and_never_a_replacement_character(text):
    ids = TOKENIZER.encode(text).ids
    labels = token_labels(TOKENIZER, ids)
    assert len(labels) == len(ids) and "\ufffd" not in "".join(labels)
    assert "".join(label for label in labels if label != CONTINUATION) == text  # each character once, in order


def test_a_split_character_is_shown_on_its_first_token_and_continued():
    ids = TOKENIZER.encode("😀").ids
    assert len(ids) > 1  # the emoji's 4 bytes are split
    assert token_labels(TOKENIZER, ids) == ["😀"] + [CONTINUATION] * (len(ids) - 1)
    assert token_label(TOKENIZER, ids[0]).startswith("\\x")  # alone, its incomplete bytes in hex
