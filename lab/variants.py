"""What the latency lab times: a scale, the variants built at it from the same random weights, and the
FLOPs of one call of each.

- dense-active:  SwiGLU FFN of width K*F (the MoE's active width: compute-matched)
- dense-total:   SwiGLU FFN of width E*F (the MoE's total width: parameter-matched)
- moe-<backend>: the MoE layer with each dispatch backend of models/experts.py that runs on this device
                 (loop, sorted, grouped); a backend that cannot run here is left out, never relabelled
- hf-mixtral:    Hugging Face transformers' MixtralSparseMoeBlock with the same weights (eager experts),
                 checked equal to ours before timing; left out when transformers is not installed.
Shapes: N tokens, D model width, F expert width, E experts, K experts per token.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from errors import UserError
from models.config import ModelConfig
from models.experts import BACKENDS, DenseFFN, grouped_mm_supported
from models.moe import MoELayer
from models.transformer import Transformer
from routing.options import RoutingOptions, check_top_k


MAX_MOE_BYTES = 2**30  # weights of all experts; the variants hold about three times this
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class LabScale:
    d_model: int = 1024
    d_expert: int = 1024
    n_experts: int = 8
    top_k: int = 2
    dtype: str = "float32"  # of weights and activations: float32 | bfloat16

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise UserError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not (16 <= self.d_model <= 8192 and 16 <= self.d_expert <= 16384 and 1 <= self.n_experts <= 64):
            raise UserError("scale out of range: d_model 16-8192, d_expert 16-16384, experts 1-64")
        check_top_k(self.top_k, self.n_experts, "top-K", UserError)
        if self.n_experts * self.expert_bytes > MAX_MOE_BYTES:  # dense-total and the peer hold as much again
            raise UserError(f"the MoE's weights would take {self.n_experts * self.expert_bytes / 1e9:.1f} GB; "
                             f"this lab keeps them under {MAX_MOE_BYTES / 1e9:.0f} GB (fewer experts or narrower layers)")

    def moe_config(self) -> ModelConfig:
        return ModelConfig(vocab_size=16, d_model=self.d_model, n_layers=1, n_heads=1, ffn_kind="moe", d_ff=self.d_expert,
                           n_experts=self.n_experts, top_k=self.top_k, context_length=16)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def expert_bytes(self) -> int:
        """Weights of one expert (gate, up, down) in the lab's dtype."""
        return 3 * self.d_model * self.d_expert * self.torch_dtype.itemsize

    def weight_mb(self) -> dict[str, float]:
        expert = self.expert_bytes / 1e6
        return {"dense-active": expert * self.top_k, "dense-total": expert * self.n_experts, "moe (all experts)": expert * self.n_experts}


@dataclass(frozen=True)
class Measurement:
    phase: str  # prefill (N tokens of one sequence) | decode (one token for each of B sequences)
    tokens: int  # N for prefill, B for decode: the tokens one call of the layer processes
    variant: str
    median_ms: float
    q25_ms: float
    q75_ms: float
    flops: float  # forward FLOPs of one call (active weights only)
    gflop_per_s: float
    samples_ms: tuple[float, ...] = ()  # every repetition in order; the variants of one size share repetitions


def build_variants(scale: LabScale, seed: int = 0, with_peer: bool = True,
                   device: str = "cpu") -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """name -> function of x (N, D) -> (N, D), all from the same random MoE weights, on `device`."""
    torch.manual_seed(seed)
    moe = MoELayer.from_config(scale.moe_config(), 0).eval()
    d, f, e, k = scale.d_model, scale.d_expert, scale.n_experts, scale.top_k
    dense_active, dense_total = DenseFFN(d, k * f).eval(), DenseFFN(d, e * f).eval()
    with torch.no_grad():  # the dense twins reuse expert weights, so all variants read the same values
        for dense, n in ((dense_active, k), (dense_total, e)):
            dense.w_gate.copy_(moe.experts.w_gate[:n].reshape(n * f, d))
            dense.w_up.copy_(moe.experts.w_up[:n].reshape(n * f, d))
            dense.w_down.copy_(moe.experts.w_down[:n].permute(1, 0, 2).reshape(d, n * f))

    def moe_fn(backend: str):
        opts = RoutingOptions(dispatch=backend)
        return lambda x: moe(x[None], opts, None, False)[0][0]

    peer = mixtral_peer(moe) if with_peer else None
    for module in (moe, dense_active, dense_total, peer):
        if module is not None:
            module.to(device, scale.torch_dtype)
    variants = {"dense-active": dense_active, "dense-total": dense_total}
    variants |= {f"moe-{b}": moe_fn(b) for b in runnable_backends(moe)}
    if peer is not None:
        variants["hf-mixtral"] = lambda x: peer(x[None])[0]
    return variants


def runnable_backends(moe: MoELayer) -> list[str]:
    """The dispatch backends that run at inference on the layer's device and dtype (grouped only where
    grouped_mm does)."""
    w_gate, w_down = moe.experts.w_gate, moe.experts.w_down
    with torch.no_grad():
        grouped = grouped_mm_supported(torch.zeros(1, w_gate.shape[2], device=w_gate.device, dtype=w_gate.dtype), w_gate, w_down)
    return [b for b in BACKENDS if b != "grouped" or grouped]


def mixtral_peer(moe: MoELayer):
    """transformers' MixtralSparseMoeBlock holding `moe`'s weights (eager experts), or None if unavailable."""
    try:
        from transformers import MixtralConfig
        from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock
    except ImportError:
        return None
    e, f, d = moe.experts.w_gate.shape
    config = MixtralConfig(hidden_size=d, intermediate_size=f, num_local_experts=e, num_experts_per_tok=moe.default_top_k)
    if hasattr(config, "_experts_implementation"):
        config._experts_implementation = "eager"
    block = MixtralSparseMoeBlock(config).eval()
    with torch.no_grad():
        block.gate.weight.copy_(moe.router.gate.weight)
        block.experts.gate_up_proj.copy_(torch.cat([moe.experts.w_gate, moe.experts.w_up], dim=1))  # (E, 2F, D)
        block.experts.down_proj.copy_(moe.experts.w_down)  # (E, D, F)
    return block


def check_equal(variants: dict, x: torch.Tensor) -> float:
    """Max |difference| between every MoE variant (ours and the peer) and moe-loop on x."""
    with torch.no_grad():
        ref = variants["moe-loop"](x)
        return max(float((variants[n](x) - ref).abs().max()) for n in variants if n.startswith(("moe", "hf")))


def call_flops(scale: LabScale, variant: str, tokens: int) -> float:
    d, f, e, k = scale.d_model, scale.d_expert, scale.n_experts, scale.top_k
    width = {"dense-active": k * f, "dense-total": e * f}.get(variant, k * f)
    router = 0 if variant.startswith("dense") else 2 * d * e
    return tokens * (2 * 3 * d * width + router)


def build_models(scale: LabScale, layers: int, seed: int = 0) -> dict:
    """Whole models on the shared backbone (random weights): dense-active, dense-total and the MoE."""
    base = ModelConfig(vocab_size=4096, d_model=scale.d_model, n_layers=layers, n_heads=max(1, scale.d_model // 64),
                       context_length=4096 + 64)
    torch.manual_seed(seed)
    configs = {"dense-active": base.replace(d_ff=scale.top_k * scale.d_expert),
               "dense-total": base.replace(d_ff=scale.n_experts * scale.d_expert),
               "moe": base.replace(ffn_kind="moe", d_ff=scale.d_expert, n_experts=scale.n_experts, top_k=scale.top_k)}
    return {name: Transformer(cfg).to(scale.torch_dtype).eval() for name, cfg in configs.items()}


