"""The model zoo: matched dense and MoE models trained by this project, shipped in assets/models/.

All members share the backbone (vocab 4096, d_model 128, 4 layers, 4 heads, context 256), the data,
the tokens seen, the schedule and the seed; only the FFN differs:
- dense        SwiGLU width 512: the compute-matched baseline;
- moe-4/8/16   4, 8 or 16 experts of width 256, top-2: 2 x 256 = 512 active width, so the same
               active parameters per token as `dense` (plus a tiny router);
- moe-32       fine-grained (as OLMoE, DeepSeekMoE, Qwen3): 32 experts of width 64, top-8: again 512 active
               width, and 2048 in all, as moe-8;
- dense-wide   SwiGLU width 2048 = 8 x 256: the same total parameters as moe-8 and moe-32 (routers aside).
Balancing, chosen by measurement (assets/README.md): moe-4/8/16 keep their experts balanced with a per-expert
bias on the routing scores (DeepSeek-V3's aux-loss-free balancing, update rate 0.001), which lowered their
held-out loss by 0.012-0.054 nats against the auxiliary loss; moe-32 keeps the auxiliary loss (weight 0.01, and
a router z-loss 0.001): with the bias it trailed by 0.024-0.036 nats over its first 1,250 steps (a bias step of
0.001 is large against softmax scores near 1/32, so the bias more than the scores picks its experts).

The zoo directory is assets/models/, or the directory the operator names in MOE_ZOO_DIR.
`load_member(name)` returns the model in eval mode with its tokenizer; loaded models are shared
read-only (routing settings travel per call), so each is loaded once per process.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from corpus.tokenizer import load_tokenizer
from models.checkpoint import load_checkpoint
from models.config import ModelConfig
from models.transformer import Transformer
from paths import TOKENIZER, zoo_dir
BACKBONE = ModelConfig(vocab_size=4096, d_model=128, n_layers=4, n_heads=4, context_length=256)
MOE = dict(ffn_kind="moe", d_ff=256, top_k=2, router="bias", normalize_topk=True, bias_update_rate=0.001)
AUX_BALANCED = dict(router="softmax", aux_loss_weight=0.01, z_loss_weight=0.001)
FINE_GRAINED = MOE | AUX_BALANCED | dict(d_ff=64, top_k=8)


@dataclass(frozen=True)
class ZooSpec:
    name: str
    config: ModelConfig
    description: str


ZOO = (
    ZooSpec("dense", BACKBONE.replace(d_ff=512), "dense baseline, FFN width 512 (compute-matched to the MoEs)"),
    ZooSpec("moe-4", BACKBONE.replace(n_experts=4, **MOE), "MoE, 4 experts of width 256, top-2"),
    ZooSpec("moe-8", BACKBONE.replace(n_experts=8, **MOE), "MoE, 8 experts of width 256, top-2"),
    ZooSpec("moe-16", BACKBONE.replace(n_experts=16, **MOE), "MoE, 16 experts of width 256, top-2"),
    ZooSpec("moe-32", BACKBONE.replace(n_experts=32, **FINE_GRAINED), "MoE, 32 experts of width 64, top-8 (fine-grained)"),
    ZooSpec("dense-wide", BACKBONE.replace(d_ff=2048), "dense, FFN width 2048 (parameter-matched to moe-8)"),
)
SPECS = {spec.name: spec for spec in ZOO}


@dataclass(frozen=True)
class LoadedModel:
    spec: ZooSpec
    model: Transformer
    tokenizer: Tokenizer


def zoo_names() -> list[str]:
    return [spec.name for spec in ZOO]


@functools.lru_cache(maxsize=None)
def shared_tokenizer(path: Path = TOKENIZER) -> Tokenizer:
    return load_tokenizer(path)


def read_member(name: str, directory: Path | None = None) -> LoadedModel:
    """Load a member from `directory` (default: the zoo directory) uncached; ValueError / CheckpointError
    name the bad file (for the operator's log: the page shows users only a generic message)."""
    if name not in SPECS:
        raise ValueError(f"unknown model '{name}'; the zoo has: {', '.join(zoo_names())}")
    directory = directory or zoo_dir()
    model = load_checkpoint(directory / name)
    tokenizer = shared_tokenizer()
    if model.cfg.vocab_size != tokenizer.get_vocab_size():
        raise ValueError(
            f"{TOKENIZER} has {tokenizer.get_vocab_size()} tokens but {directory / name}/config.json "
            f"expects {model.cfg.vocab_size}: the tokenizer does not match the model"
        )
    return LoadedModel(SPECS[name], model, tokenizer)


_LOADING = threading.Lock()


@functools.lru_cache(maxsize=None)
def _cached_member(name: str, directory: Path) -> LoadedModel:
    return read_member(name, directory)


def load_member(name: str, directory: Path | None = None) -> LoadedModel:
    """The shared, read-only loaded member; loaded once per process even when requests race."""
    with _LOADING:
        member = _cached_member(name, directory or zoo_dir())
        _LOADED.add(name)
        return member


_LOADED: set[str] = set()  # members of the zoo directory loaded in this process


def bytes_to_load() -> int:
    """Bytes of the zoo's weight files not loaded in this process yet. The app loads the zoo after any --model: a real
    model's memory check keeps this much free, so that the zoo is counted once (a loaded member is already out of
    the memory the machine reports available, one still to load is reserved)."""
    return sum(path.stat().st_size for name in SPECS if name not in _LOADED
               for path in (zoo_dir() / name).glob("*.safetensors"))
