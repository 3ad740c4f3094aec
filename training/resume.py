"""Resumable training state: everything a run needs to continue exactly where it stopped.

A state directory holds state.safetensors (model weights, optimizer moments, the sampler's and torch's
random-number states, as tensors) and state.json (the next step, the optimizer's hyperparameters and
the log rows so far). No pickle. A run resumed from a state ends with the same weights as one that was
never interrupted (a test checks it bit for bit on a tiny config).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from corpus.streams import WindowSampler
from models.transformer import Transformer

TENSORS, META = "state.safetensors", "state.json"


def has_state(directory: Path | None) -> bool:
    return directory is not None and (directory / META).is_file() and (directory / TENSORS).is_file()


def save_state(directory: Path, model: Transformer, optimizer: torch.optim.Optimizer, sampler: WindowSampler,
               next_step: int, rows: list[dict]) -> None:
    """Write the state atomically enough for a crash: tensors first, then the JSON that names the step."""
    directory.mkdir(parents=True, exist_ok=True)
    optim = optimizer.state_dict()
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    for index, state in optim["state"].items():
        tensors |= {f"optim.{index}.{k}": v.detach().clone().contiguous() for k, v in state.items()}
    tensors["rng.sampler"] = sampler.generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(directory / TENSORS))
    meta = {"next_step": next_step, "param_groups": optim["param_groups"], "rows": rows}
    (directory / META).write_text(json.dumps(meta))


def load_state(directory: Path, model: Transformer, optimizer: torch.optim.Optimizer, sampler: WindowSampler) -> tuple[int, list[dict]]:
    """Restore a saved state into freshly built objects; -> (the next step to run, the log rows so far)."""
    tensors, meta = load_file(str(directory / TENSORS)), json.loads((directory / META).read_text())
    model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    sampler.generator.set_state(tensors["rng.sampler"])
    torch.set_rng_state(tensors["rng.torch"])
    return meta["next_step"], meta["rows"]
