"""ModelConfig: everything that defines a model, and nothing read from globals.

A config fully describes a decoder-only language model. Dense and MoE models share the backbone
(token embedding, RMSNorm, rotary causal self-attention, SwiGLU FFN, tied or untied head); only the
FFN kind differs. Configs serialise to and from plain JSON dicts; unknown or ill-typed fields fail
with a message naming the field.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from routing.options import check_top_k
from routing.rules import ROUTER_KINDS

FFN_KINDS = ("dense", "moe")


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only LM.

    d_ff is the width of the dense FFN, or of each expert for an MoE.
    router: softmax (Mixtral top-k), noisy (Shazeer 2017 learned noise), capacity (Switch: top-1 with a
    capacity factor, token dropping; its gate is the raw probability whatever normalize_topk says), bias (DeepSeek-V3 aux-loss-free bias-balanced selection),
    sigmoid (DeepSeek-V3's whole rule: sigmoid scores with that bias; routing/rules.py).
    capacity_factor: None = unlimited (any router may still be given a capacity per call).
    """

    vocab_size: int = 4096
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    context_length: int = 256
    ffn_kind: str = "dense"
    d_ff: int = 512
    n_experts: int = 1
    top_k: int = 1
    router: str = "softmax"
    normalize_topk: bool = True
    capacity_factor: float | None = None
    aux_loss_weight: float = 0.0
    z_loss_weight: float = 0.0
    bias_update_rate: float = 0.001
    tie_embeddings: bool = True
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"int": int, "float": (int, float), "bool": bool, "str": str}.get(str(f.type))
            if f.name == "capacity_factor":
                expected = (int, float, type(None))
            if expected is None:
                continue
            if isinstance(value, bool) and expected is not bool:
                raise ValueError(f"config field '{f.name}' must be {f.type}, got a boolean")
            if not isinstance(value, expected):
                raise ValueError(f"config field '{f.name}' must be {f.type}, got {type(value).__name__} {value!r}")
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "context_length", "d_ff", "n_experts", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"config field '{name}' must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"config field 'n_heads' ({self.n_heads}) must divide 'd_model' ({self.d_model}) into an even head size"
            )
        if self.ffn_kind not in FFN_KINDS:
            raise ValueError(f"config field 'ffn_kind' must be one of {FFN_KINDS}, got {self.ffn_kind!r}")
        if self.router not in ROUTER_KINDS:
            raise ValueError(f"config field 'router' must be one of {ROUTER_KINDS}, got {self.router!r}")
        if self.ffn_kind == "dense" and (self.n_experts != 1 or self.top_k != 1):
            raise ValueError("a dense config has n_experts = 1 and top_k = 1")
        check_top_k(self.top_k, self.n_experts, "config field 'top_k'")
        if self.router == "capacity" and (self.top_k != 1 or self.capacity_factor is None):
            raise ValueError("router 'capacity' is top-1 with a capacity: set top_k = 1 and a capacity_factor")
        if self.capacity_factor is not None and not (self.capacity_factor > 0 and not math.isnan(self.capacity_factor)):
            raise ValueError(f"config field 'capacity_factor' must be > 0 or null, got {self.capacity_factor}")
        for name in ("aux_loss_weight", "z_loss_weight", "bias_update_rate", "norm_eps", "init_std"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"config field '{name}' must be a finite number >= 0, got {v}")

    @property
    def is_moe(self) -> bool:
        return self.ffn_kind == "moe"

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        if not isinstance(data, dict):
            raise ValueError(f"a model config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**data)
