"""Scale arithmetic on an ArchSpec: parameters per component, active parameters under each
convention, FLOPs per token, weight memory, and experts read per layer at a batch size.

Components: embedding, attention, norms, router, routed experts, shared experts, dense FFN, head.
"Active" conventions (which parameters count as used by one token):
- all:            every parameter the token touches, input embedding and output head included
                  (Mixtral's 12.9B, DeepSeek-V3's 37B, Qwen's and OLMoE's figures);
- no_embedding:   the input embedding left out, the output head kept (gpt-oss's 5.1B);
- non_embedding:  both embedding and head left out (Kaplan et al. 2020 scaling-law N).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from models.architectures import ArchSpec

COMPONENTS = ("embedding", "attention", "norms", "router", "routed_experts", "shared_experts", "dense_ffn", "head")
CONVENTIONS = ("all", "no_embedding", "non_embedding")
BYTES_PER_PARAM = {"bf16": 2.0, "fp8": 1.0, "4-bit": 0.5}


@dataclass(frozen=True)
class Breakdown:
    embedding: int
    attention: int
    norms: int
    router: int
    routed_experts: int
    shared_experts: int
    dense_ffn: int
    head: int

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def breakdown(spec: ArchSpec, active: bool = False, top_k: int | None = None) -> Breakdown:
    """Parameters per component: all stored (active=False) or used by one token (active=True)."""
    routed = 0
    for layer in spec.layers:
        ffn = layer.ffn
        chosen = (top_k or ffn.top_k) if active else ffn.n_experts
        routed += ffn.expert * min(chosen, ffn.n_experts)
    return Breakdown(
        embedding=spec.embedding,
        attention=sum(layer.attention for layer in spec.layers),
        norms=sum(layer.norms for layer in spec.layers) + spec.final_norm,
        router=sum(layer.ffn.router for layer in spec.layers),
        routed_experts=routed,
        shared_experts=sum(layer.ffn.shared for layer in spec.layers),
        dense_ffn=sum(layer.ffn.dense for layer in spec.layers),
        head=spec.head,
    )


def active_params(spec: ArchSpec, convention: str = "all", top_k: int | None = None) -> int:
    b = breakdown(spec, active=True, top_k=top_k)
    if convention == "all":
        return b.total
    if convention == "no_embedding":
        return b.total - b.embedding + (spec.embedding if spec.tied else 0)  # a tied head still multiplies
    if convention == "non_embedding":
        return b.total - b.embedding - b.head
    raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def flops_per_token(spec: ArchSpec, context: int, top_k: int | None = None) -> int:
    """Forward FLOPs for one token at `context` positions (2 per multiply-add).

    2 x (active weights except embedding lookups and norms, the output head's V x D matmul included)
    + attention scores and values: 2 x context x (score width + value width) per layer, with a
    sliding-window layer reading at most its window. Activations, softmax and norms are left out.
    """
    b = breakdown(spec, active=True, top_k=top_k)
    weights = b.total - b.embedding - b.head - b.norms + spec.vocab * spec.hidden
    attention = sum(2 * min(context, layer.window or context) * (layer.score_width + layer.value_width) for layer in spec.layers)
    return 2 * weights + attention


def weight_bytes(spec: ArchSpec, fmt: str) -> float:
    return breakdown(spec).total * BYTES_PER_PARAM[fmt]


def expected_experts_read(n_experts: int, top_k: int, batch: int) -> float:
    """Expected distinct experts one MoE layer reads when `batch` tokens each pick top_k of n_experts
    uniformly at random: E * (1 - ((E - K) / E) ** B)."""
    if n_experts == 0:
        return 0.0
    return n_experts * (1 - ((n_experts - top_k) / n_experts) ** batch)
