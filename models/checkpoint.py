"""Checkpoints: a directory with config.json and model.safetensors. No pickle anywhere.

Weights may be stored as fp16/bf16/fp32 and are loaded into fp32 modules. Loading checks every file
and every tensor against the config and fails with a `CheckpointError` naming the file and the tensor.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from models.config import ModelConfig
from models.transformer import Transformer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not match its config."""


def save_checkpoint(model: Transformer, directory: str | Path, dtype: torch.dtype = torch.float32) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(model.cfg.to_dict(), indent=2) + "\n")
    # parameters and persistent buffers (e.g. a bias-balanced router's bias)
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    return directory


def load_config(directory: str | Path) -> ModelConfig:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: config file is missing")
    try:
        return ModelConfig.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from None


def load_checkpoint(directory: str | Path) -> Transformer:
    directory = Path(directory)
    cfg = load_config(directory)
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file is missing")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read weights ({e})") from None
    model = Transformer(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match {CONFIG_FILE}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, ref in expected.items():
        if tensors[name].shape != ref.shape:
            raise CheckpointError(
                f"{path}: tensor '{name}' has shape {tuple(tensors[name].shape)}, config needs {tuple(ref.shape)}"
            )
        if not torch.isfinite(tensors[name].float()).all():
            raise CheckpointError(f"{path}: tensor '{name}' holds NaN or infinite values")
    model.load_state_dict({name: tensors[name].to(ref.dtype) for name, ref in expected.items()})
    return model.eval()
