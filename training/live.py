"""A live mini training run for the page: a tiny 8-expert MoE trained for a few hundred steps (well
under a minute on 2 CPU cores) with a chosen balancing method, reporting expert load as it learns.

It reads only assets/live_sample.txt (a slice of the training split) and the shipped tokenizer.
Methods are the recorded variants of training/balancing.py, on a smaller backbone.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator

import torch

from corpus.streams import encode_text
from errors import UserError
from models.config import ModelConfig
from models.zoo import shared_tokenizer
from paths import LIVE_SAMPLE
from training.balancing import BY_NAME
from training.train import TrainConfig, training_steps

METHODS = ("none", "aux", "noise", "aux+noise", "aux+z", "bias", "top-1", "top-1+capacity", "capacity")
MAX_STEPS = 400
TINY = ModelConfig(vocab_size=4096, d_model=64, n_layers=2, n_heads=2, context_length=64, ffn_kind="moe", d_ff=64,
                   n_experts=8, top_k=2, router="softmax", aux_loss_weight=0.0, z_loss_weight=0.0)


@functools.lru_cache(maxsize=1)
def sample_stream() -> torch.Tensor:
    return encode_text(shared_tokenizer(), LIVE_SAMPLE.read_text(encoding="utf-8"))


def live_config(method: str) -> ModelConfig:
    if method not in METHODS:
        raise UserError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return TINY.replace(**BY_NAME[method].config)


def live_run(method: str, steps: int = 200, seed: int = 0, lr: float = 1e-2) -> Iterator[dict]:
    """Check the settings (UserError), then return an iterator over each step's log row (loss, per-layer
    expert shares, load CV, dead experts, ...; the schema of training/log.py); training runs as it is read."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 10 <= steps <= MAX_STEPS:
        raise UserError(f"steps must be an integer between 10 and {MAX_STEPS}, got {steps!r}")
    cfg = live_config(method)
    tc = TrainConfig(steps=steps, batch_size=16, lr=lr, warmup_steps=10, seed=seed)
    return (row for _, row in training_steps(cfg, tc, sample_stream()))
