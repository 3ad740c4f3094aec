"""Token streams for training and evaluation, built from the corpus text files.

Shapes: B batch, T context length.
Each domain's text is tokenized once into a 1-D int64 tensor. Training windows are drawn at random
offsets from the concatenation of all domains (so domains are weighted by their token counts) with a
seeded generator: every model trained with the same seed sees exactly the same batches.
"""
from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer

from corpus.tokenizer import token_bytes

CHUNK_CHARS = 100_000


def encode_text(tokenizer: Tokenizer, text: str) -> torch.Tensor:
    """Tokenize a long text in chunks cut at line ends (BPE merges never cross a newline here)."""
    chunks, start = [], 0
    while start < len(text):
        end = text.find("\n", start + CHUNK_CHARS)
        end = len(text) if end < 0 else end + 1
        chunks.append(text[start:end])
        start = end
    ids = [i for enc in tokenizer.encode_batch(chunks) for i in enc.ids]
    return torch.tensor(ids, dtype=torch.long)


def load_domains(directory: Path, tokenizer: Tokenizer) -> dict[str, torch.Tensor]:
    """{domain: (N,) token ids} for every <domain>.txt in directory."""
    files = sorted(Path(directory).glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no <domain>.txt files in {directory}; run `python -m corpus.build` first")
    return {f.stem: encode_text(tokenizer, f.read_text(encoding="utf-8")) for f in files}


class WindowSampler:
    """Random (B, T+1) windows of a token stream, reproducible from a seed."""

    def __init__(self, stream: torch.Tensor, batch_size: int, context: int, seed: int):
        if stream.numel() <= context + 1:
            raise ValueError(f"the token stream ({stream.numel()} tokens) is shorter than one window")
        self.stream, self.batch_size, self.context = stream, batch_size, context
        self.generator = torch.Generator().manual_seed(seed)

    def next_batch(self) -> torch.Tensor:
        starts = torch.randint(0, self.stream.numel() - self.context - 1, (self.batch_size,), generator=self.generator)
        return torch.stack([self.stream[s : s + self.context + 1] for s in starts.tolist()])  # (B, T+1)


def eval_windows(stream: torch.Tensor, context: int) -> torch.Tensor:
    """Non-overlapping (n, T+1) windows covering the stream (the last partial window is dropped)."""
    n = (stream.numel() - 1) // context
    idx = torch.arange(n)[:, None] * context + torch.arange(context + 1)[None, :]
    return stream[idx]


def target_bytes(stream: torch.Tensor, tokenizer: Tokenizer, context: int) -> int:
    """UTF-8 bytes of the tokens eval_windows scores (its targets), to turn nats per token into bits per byte."""
    lengths = torch.tensor([len(token_bytes(tokenizer, i)) for i in range(tokenizer.get_vocab_size())])
    return int(lengths[eval_windows(stream, context)[:, 1:]].sum())
