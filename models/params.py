"""Parameter and FLOP accounting: the one derivation used by the zoo, the page and the real-model
calculator (scale/), checked against the modules by tests.

An `ArchSpec` lists per layer the parameters of attention, norms and FFN (dense, or routed experts +
shared experts + router); `arch_of` builds it from this project's ModelConfig and scale/architectures.py
from a Hugging Face config.json. Everything is counted from the ArchSpec alone.

Components: embedding, attention, norms, router, routed experts, shared experts, dense FFN, head.
"Active" parameters are those one token's forward pass uses: routed experts count top_k of n_experts,
and parameters used only in training (a noisy router's noise projection) do not count. Conventions:
- all:            every parameter the token touches, input embedding and output head included
                  (Mixtral's 12.9B, DeepSeek-V3's 37B, Qwen's and OLMoE's figures);
- no_embedding:   the input embedding left out, the output head kept (gpt-oss's 5.1B);
- non_embedding:  both embedding and head left out (Kaplan et al. 2020 scaling-law N).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from models.config import ModelConfig
from routing.options import check_top_k

COMPONENTS = ("embedding", "attention", "norms", "router", "routed_experts", "shared_experts", "dense_ffn", "head")
CONVENTIONS = ("all", "no_embedding", "non_embedding")
BYTES_PER_PARAM = {"bf16": 2.0, "fp8": 1.0, "4-bit": 0.5}


@dataclass(frozen=True)
class FFNSpec:
    dense: int = 0  # params of a dense MLP (0 in an MoE layer)
    expert: int = 0  # params of one routed expert
    n_experts: int = 0
    top_k: int = 0
    shared: int = 0  # params of the always-on shared expert(s), their gate included
    router: int = 0  # router weights (and biases) used at inference
    train_only: int = 0  # router params used only while training (a noisy router's noise projection)

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0


@dataclass(frozen=True)
class LayerSpec:
    attention: int  # all attention params: projections, biases, sinks, QK/latent norms
    norms: int  # the block's pre-attention and pre-FFN norms
    ffn: FFNSpec
    score_width: int  # heads x query/key head width (attention-score FLOPs)
    value_width: int  # heads x value head width
    window: int | None = None  # sliding-window length, None = full attention


@dataclass(frozen=True)
class ArchSpec:
    family: str
    vocab: int
    hidden: int
    layers: tuple[LayerSpec, ...]
    tied: bool
    final_norm: int
    unknown_fields: tuple[str, ...] = field(default=())

    @property
    def embedding(self) -> int:
        return self.vocab * self.hidden

    @property
    def head(self) -> int:
        return 0 if self.tied else self.vocab * self.hidden

    @property
    def moe_layers(self) -> list[LayerSpec]:
        return [layer for layer in self.layers if layer.ffn.is_moe]


@dataclass(frozen=True)
class Breakdown:
    embedding: int
    attention: int
    norms: int
    router: int
    routed_experts: int
    shared_experts: int
    dense_ffn: int
    head: int  # 0 when the head is tied to the embedding

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def arch_of(cfg: ModelConfig) -> ArchSpec:
    """This project's model as an ArchSpec: fused qkv (3 D^2) + output projection (D^2), two RMSNorms per
    block and one final, SwiGLU FFN (gate, up, down) or experts of that shape behind a linear router."""
    d = cfg.d_model
    swiglu = 3 * d * cfg.d_ff
    ffn = FFNSpec(dense=swiglu)
    if cfg.is_moe:
        ffn = FFNSpec(expert=swiglu, n_experts=cfg.n_experts, top_k=cfg.top_k, router=d * cfg.n_experts,
                      train_only=d * cfg.n_experts if cfg.router == "noisy" else 0)
    layer = LayerSpec(attention=4 * d * d, norms=2 * d, ffn=ffn, score_width=d, value_width=d)
    return ArchSpec("moe-vs-dense project", cfg.vocab_size, d, (layer,) * cfg.n_layers, cfg.tie_embeddings, d)


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
        router=sum(layer.ffn.router + (0 if active else layer.ffn.train_only) for layer in spec.layers),
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
    """Forward FLOPs for one token at `context` positions (2 per multiply-add; Kaplan et al. 2020).

    2 x (active weights except embedding lookups and norms, the output head's V x D matmul included)
    + attention scores and values: 2 x context x (score width + value width) per layer, with a
    sliding-window layer reading at most its window. Activations, softmax and norms are left out.
    """
    b = breakdown(spec, active=True, top_k=top_k)
    weights = b.total - b.embedding - b.head - b.norms + spec.vocab * spec.hidden
    attention = sum(2 * min(context, layer.window or context) * (layer.score_width + layer.value_width) for layer in spec.layers)
    return 2 * weights + attention


def expected_experts_read(n_experts: int, top_k: int, batch: int) -> float:
    """Expected distinct experts one MoE layer reads when `batch` tokens each pick top_k of n_experts
    uniformly at random: E * (1 - ((E - K) / E) ** B)."""
    if n_experts == 0:
        return 0.0
    return n_experts * (1 - ((n_experts - top_k) / n_experts) ** batch)


@dataclass(frozen=True)
class ParamReport:
    total: Breakdown
    active: Breakdown  # per token

    @property
    def active_non_embedding(self) -> int:
        return self.active.total - self.active.embedding - self.active.head


def _checked_top_k(spec: ArchSpec, top_k: int | None) -> int | None:
    if top_k is not None:
        check_top_k(top_k, max(1, *(layer.ffn.n_experts for layer in spec.layers)))
    return top_k


def count_arch(spec: ArchSpec, top_k: int | None = None) -> ParamReport:
    """Total and per-token active parameters of any model's ArchSpec; top_k overrides the config's."""
    return ParamReport(total=breakdown(spec), active=breakdown(spec, active=True, top_k=_checked_top_k(spec, top_k)))


def arch_flops(spec: ArchSpec, context: int, top_k: int | None = None) -> int:
    """Forward FLOPs per token of any model's ArchSpec at the given context length (see flops_per_token)."""
    return flops_per_token(spec, context, _checked_top_k(spec, top_k))


def count_params(cfg: ModelConfig, top_k: int | None = None) -> ParamReport:
    """Total and per-token active parameters of a project model; top_k overrides the config's."""
    return count_arch(arch_of(cfg), top_k)


def config_flops(cfg: ModelConfig, context: int, top_k: int | None = None) -> int:
    """Forward FLOPs per token of a project model at the given context length (see flops_per_token)."""
    return arch_flops(arch_of(cfg), context, top_k)
