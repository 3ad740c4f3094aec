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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server():
    """`python app.py` launched as a user would, on a free local port; yields (URL, process)."""
    import subprocess
    import time
    import urllib.request

    port = free_port()
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "MOE_APP_PORT": str(port)}
    log = open(root / ".pytest_cache" / "app_server.log", "w") if (root / ".pytest_cache").is_dir() else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("app.py did not serve within 120 s")
        time.sleep(0.5)
    yield url, proc
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def app_url(app_server):
    return app_server[0]
