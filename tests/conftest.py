"""Tiny stand-in models for fast CPU tests."""
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from models.config import ModelConfig  # noqa: E402


def tiny_config(**changes) -> ModelConfig:
    base = dict(vocab_size=97, d_model=32, n_layers=2, n_heads=4, context_length=64, d_ff=48)
    if changes.get("ffn_kind") == "moe":
        base.update(n_experts=4, top_k=2, d_ff=16)
    base.update(changes)
    return ModelConfig(**base)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
