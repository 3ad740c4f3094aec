"""The byte-level BPE tokenizer (Hugging Face `tokenizers`), trained on the training split only.

Byte-level BPE round-trips any Unicode text losslessly (emoji, control characters, NUL included):
every byte has a token, and the decoder maps tokens back to bytes. A character of several bytes (Cyrillic,
CJK, emoji) may be split across tokens, so labels are made from bytes, never by decoding a token alone:
`token_labels` labels a sequence, each character shown once, on the token where its first byte is, and a
token that only continues the previous token's character shows CONTINUATION; `token_label` labels one
token out of context, its incomplete bytes in hex. Spaces, newlines and tabs become visible symbols;
no label ever holds the replacement character.

`python -m corpus.tokenizer` retrains assets/tokenizer.json from data/corpus/train.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from paths import TOKENIZER as TOKENIZER_PATH, TRAIN_DIR
EOS = "<|endoftext|>"
VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
CONTINUATION = "⁺"  # a token that only continues the character started in the token before it


def _byte_decoder() -> dict[str, int]:
    """The byte-level alphabet (GPT-2's bytes_to_unicode) inverted: token character -> byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


BYTE_OF = _byte_decoder()


METASPACE = "▁"  # SentencePiece-style tokenizers (Llama, Mixtral) write a space as this
BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")  # and a byte they have no piece for as <0xNN>


def token_bytes(tokenizer: Tokenizer, token_id: int) -> bytes:
    """The raw bytes a token stands for (a special token: its text): byte-level BPE pieces through the
    byte alphabet; SentencePiece pieces with their metaspace as a space and <0xNN> as that byte."""
    piece = tokenizer.id_to_token(token_id) or ""
    if match := BYTE_FALLBACK.fullmatch(piece):
        return bytes([int(match.group(1), 16)])
    if piece and all(ch in BYTE_OF for ch in piece):
        return bytes(BYTE_OF[ch] for ch in piece)
    return piece.replace(METASPACE, " ").encode("utf-8")


def _visible(text: str) -> str:
    return "".join(VISIBLE.get(ch, ch if ch.isprintable() else f"\\x{ord(ch):02x}") for ch in text)


def _utf8_length(lead: int) -> int:
    """Bytes of the UTF-8 character starting with `lead` (0 for a continuation byte)."""
    return 1 if lead < 0x80 else 0 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


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


def token_labels(tokenizer: Tokenizer, ids: list[int]) -> list[str]:
    """Readable labels of a token sequence: each character on the token holding its first byte; a token
    holding only the rest of the previous token's character shows CONTINUATION; bytes that form no
    valid character show in hex (\\xNN)."""
    chunks = [token_bytes(tokenizer, i) for i in ids]
    owner = [t for t, chunk in enumerate(chunks) for _ in chunk]  # token index of every byte
    data = b"".join(chunks)
    labels = [""] * len(ids)
    pos = 0
    while pos < len(data):
        size = _utf8_length(data[pos])
        piece = data[pos : pos + size] if size else b""
        try:
            text = _visible(piece.decode("utf-8")) if size else None
        except UnicodeDecodeError:
            text = None
        if text is None:  # a stray or truncated byte
            text, size = f"\\x{data[pos]:02x}", 1
        labels[owner[pos]] += text
        pos += size
    return [label or CONTINUATION for label in labels]


def token_label(tokenizer: Tokenizer, token_id: int) -> str:
    """One token out of context: its text, or its bytes in hex where they are part of a longer character."""
    return token_labels(tokenizer, [token_id])[0]


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
