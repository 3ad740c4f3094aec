"""The byte-level BPE tokenizer (Hugging Face `tokenizers`), trained on the training split only.

Byte-level BPE round-trips any Unicode text losslessly (emoji, control characters, NUL included):
every byte has a token, and the decoder maps tokens back to bytes. `token_label` renders one token
readably for the page: spaces, newlines and tabs become visible symbols.

`python -m corpus.tokenizer` retrains assets/tokenizer.json from data/corpus/train.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from paths import TOKENIZER as TOKENIZER_PATH, TRAIN_DIR
EOS = "<|endoftext|>"
VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def train_tokenizer(files: list[Path], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train([str(f) for f in files], trainer)
    return tokenizer


def load_tokenizer(path: str | Path = TOKENIZER_PATH) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # the tokenizers library raises a bare Exception on bad files
        raise ValueError(f"{path}: cannot load tokenizer ({e})") from None


def token_label(tokenizer: Tokenizer, token_id: int) -> str:
    """One token as readable text; bytes that are part of a multi-byte character show as '�'."""
    text = tokenizer.decode([token_id], skip_special_tokens=False)
    return "".join(VISIBLE.get(ch, ch if ch.isprintable() else f"\\x{ord(ch):02x}") for ch in text)


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the byte-level BPE tokenizer on the training split.")
    parser.add_argument("--train-dir", type=Path, default=TRAIN_DIR)
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=TOKENIZER_PATH)
    args = parser.parse_args()
    tokenizer = train_tokenizer(sorted(args.train_dir.glob("*.txt")), args.vocab_size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(args.out))
    print(f"wrote {args.out} ({tokenizer.get_vocab_size()} tokens)")


if __name__ == "__main__":
    main()
