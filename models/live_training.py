"""A live mini training run for the page: a tiny 8-expert MoE trained for a few hundred steps (well
under a minute on 2 CPU cores) with a chosen balancing method, reporting expert load as it learns.

It reads only assets/live_sample.txt (a slice of the training split) and the shipped tokenizer.
Methods are the recorded variants of models/balancing.py, on a smaller backbone.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import torch

from models.balancing import BY_NAME
from models.config import ModelConfig
from models.data import encode_text
from models.train import TrainConfig, training_steps
from models.zoo import shared_tokenizer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets/live_sample.txt"
METHODS = ("none", "aux", "aux+noise", "aux+z", "bias", "capacity", "probe: none, top-1")
MAX_STEPS = 400
TINY = ModelConfig(vocab_size=4096, d_model=64, n_layers=2, n_heads=2, context_length=64, ffn_kind="moe", d_ff=64,
                   n_experts=8, top_k=2, router="softmax", aux_loss_weight=0.0, z_loss_weight=0.0)


@functools.lru_cache(maxsize=1)
def sample_stream() -> torch.Tensor:
    return encode_text(shared_tokenizer(), SAMPLE.read_text(encoding="utf-8"))


def live_config(method: str) -> ModelConfig:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return TINY.replace(**BY_NAME[method].config)


def live_run(method: str, steps: int = 200, seed: int = 0, lr: float = 1e-2) -> Iterator[dict]:
    """Yield each step's log row (loss, per-layer expert shares, load CV, dead experts, ...)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 10 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be an integer between 10 and {MAX_STEPS}, got {steps!r}")
    tc = TrainConfig(steps=steps, batch_size=16, lr=lr, warmup_steps=10, seed=seed)
    for _, row in training_steps(live_config(method), tc, sample_stream()):
        yield row
