"""The shared backbone: embed -> [attention -> FFN] x L -> norm -> head, dense or MoE FFN.

Shapes: B batch, T tokens, D model width, V vocabulary.

Notable features:
- one code path for dense and MoE models (only the FFN module differs);
- routing settings per call (`RoutingOptions`), never by mutating a shared module;
- routing traces returned as data when asked (`trace=True`), no hooks;
- a KV cache for incremental decoding whose logits equal those of a full forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.attention import CausalSelfAttention, KVCache, RMSNorm, rotary_tables
from models.config import ModelConfig
from models.experts import DenseFFN
from models.moe import MoEAux, MoELayer
from models.params import ArchSpec, arch_of
from routing.interventions import check_masks
from routing.options import RoutingOptions
from routing.trace import RoutingTrace

DEFAULT_ROUTING = RoutingOptions()


@dataclass(frozen=True)
class ModelOutput:
    logits: torch.Tensor  # (B, T, V)
    moe: tuple[MoEAux, ...]  # one per MoE layer

    @property
    def aux_loss(self) -> torch.Tensor:
        """Scalar, sum over MoE layers of the load-balancing loss (0 for dense); computed when read."""
        return sum((a.aux_loss for a in self.moe), self.logits.new_zeros(()))

    @property
    def z_loss(self) -> torch.Tensor:
        """Scalar, sum over MoE layers of the router z-loss (0 for dense); computed when read."""
        return sum((a.z_loss for a in self.moe), self.logits.new_zeros(()))

    @property
    def traces(self) -> tuple[RoutingTrace, ...]:
        """One per MoE layer when the forward ran with trace=True, else empty."""
        return tuple(a.trace for a in self.moe if a.trace is not None)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = CausalSelfAttention(cfg.d_model, cfg.n_heads)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.ffn = MoELayer.from_config(cfg, layer) if cfg.is_moe else DenseFFN(cfg.d_model, cfg.d_ff)

    def forward(self, x, cos, sin, cache, opts, generator, trace) -> tuple[torch.Tensor, MoEAux | None]:
        x = x + self.attn(self.attn_norm(x), cos, sin, cache, self.layer)
        h = self.ffn_norm(x)
        if isinstance(self.ffn, MoELayer):
            y, aux = self.ffn(h, opts, generator, trace)
            return x + y, aux
        return x + self.ffn(h), None


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = None if cfg.tie_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        nn.init.normal_(self.embed.weight, std=cfg.init_std)
        if self.head is not None:
            nn.init.normal_(self.head.weight, std=cfg.init_std)
        cos, sin = rotary_tables(cfg.head_dim, cfg.context_length, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    @property
    def arch(self) -> ArchSpec:
        """The parameter accounting of this network (models/params.py)."""
        return arch_of(self.cfg)

    def new_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        cfg = self.cfg
        p = self.embed.weight
        return KVCache(cfg.n_layers, batch, cfg.n_heads, max_len or cfg.context_length, cfg.head_dim, p.device, p.dtype)

    def forward(
        self,
        idx: torch.Tensor,
        routing: RoutingOptions = DEFAULT_ROUTING,
        trace: bool = False,
        cache: KVCache | None = None,
    ) -> ModelOutput:
        """idx (B, T) token ids -> ModelOutput. With a cache, idx continues the cached positions."""
        t = idx.shape[1]
        start, generator = prepare_call(self.cfg, idx, routing, cache)
        cos, sin = self.rope_cos[start : start + t], self.rope_sin[start : start + t]
        x = self.embed(idx)  # (B, T, D)
        auxes: list[MoEAux] = []
        for block in self.blocks:
            x, aux = block(x, cos, sin, cache, routing, generator, trace)
            if aux is not None:
                auxes.append(aux)
        if cache is not None:
            cache.length += t
        x = self.norm(x)
        logits = self.head(x) if self.head is not None else x @ self.embed.weight.t()  # (B, T, V)
        return ModelOutput(logits, tuple(auxes))

    def moe_layers(self) -> list[MoELayer]:
        return [b.ffn for b in self.blocks if isinstance(b.ffn, MoELayer)]


def prepare_call(cfg, idx: torch.Tensor, routing: RoutingOptions, cache) -> tuple[int, torch.Generator | None]:
    """What every model's forward checks first: the sequence fits the context (and the cache), the
    ablation and forcing masks fit the MoE layers; -> (first position, the call's seeded generator or None).
    cfg: anything with the zoo ModelConfig's context_length, is_moe, n_layers, n_experts and top_k."""
    start = cache.length if cache is not None else 0
    limit = min(cfg.context_length, cache.max_len if cache is not None else cfg.context_length)
    if start + idx.shape[1] > limit:
        raise ValueError(f"sequence of {start + idx.shape[1]} tokens exceeds the model context of {limit} tokens")
    if cfg.is_moe and (routing.ablation is not None or routing.forced is not None):
        check_masks(routing.ablation, routing.forced, cfg.n_layers, cfg.n_experts, routing.resolve_top_k(cfg.top_k, cfg.n_experts))
    if routing.noise_seed is None:
        return start, None
    return start, torch.Generator(device=idx.device).manual_seed(routing.noise_seed)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy: logits (B, T, V), targets (B, T) -> scalar or (B, T)."""
    loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction=reduction)
    return loss if reduction != "none" else loss.view(targets.shape)
