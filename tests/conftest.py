"""Tiny stand-in models for fast CPU tests."""
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from benchmarks.server import launch, stop  # noqa: E402
from models.config import ModelConfig  # noqa: E402


def tiny_config(**changes) -> ModelConfig:
    base = dict(vocab_size=97, d_model=32, n_layers=2, n_heads=4, context_length=64, d_ff=48)
    if changes.get("ffn_kind") == "moe":
        base.update(n_experts=4, top_k=2, d_ff=16)
    base.update(changes)
    return ModelConfig(**base)


SERVER_FIXTURES = {"app_server", "app_url", "real_app_url"}


def pytest_collection_modifyitems(items):
    """Every test that starts the app (API, robustness, browser) runs in the slow lane."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def app_server():
    """`python app.py` launched as a user would, on a free local port; yields (URL, process)."""
    root = Path(__file__).resolve().parents[1]
    log = open(root / ".pytest_cache" / "app_server.log", "w") if (root / ".pytest_cache").is_dir() else None
    proc, url = launch(log=log)
    yield url, proc
    stop(proc)


@pytest.fixture(scope="session")
def app_url(app_server):
    return app_server[0]


@pytest.fixture(scope="session")
def real_checkpoints(tmp_path_factory):
    """Tiny random OLMoE (MoE), Llama (its dense twin) and DeepSeek-V3 (sigmoid, group-limited routing) checkpoints
    with the project's tokenizer."""
    from hf_checkpoints import make_checkpoint
    return {f: make_checkpoint(tmp_path_factory.mktemp(f"real-{f}"), f) for f in ("olmoe", "llama", "deepseek_v3")}


@pytest.fixture(scope="session")
def real_app_url(real_checkpoints):
    """`python app.py --model OLMOE --model LLAMA --model DEEPSEEK_V3 --dtype float32`, as an operator would start it."""
    args = [arg for path in real_checkpoints.values() for arg in ("--model", str(path))] + ["--dtype", "float32"]
    proc, url = launch(args)
    yield url
    stop(proc)
