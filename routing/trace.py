"""Routing traces: what a router decided, returned as plain data (no hooks, no globals).

Shapes: B batch, T tokens, E experts, K experts chosen per token.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RoutingTrace:
    """One MoE layer's routing of a (B, T) batch.

    gate_weights are the weights the router assigned before any capacity drop; a dropped slot
    contributes nothing to the layer output (the token passes through the residual for that slot).
    """

    layer: int
    logits: torch.Tensor  # (B, T, E) router logits (noise included when noise was applied)
    probs: torch.Tensor  # (B, T, E) router distribution over all experts
    expert_idx: torch.Tensor  # (B, T, K) chosen experts, best first
    gate_weights: torch.Tensor  # (B, T, K) weights of the chosen experts
    dropped: torch.Tensor  # (B, T, K) bool, slot dropped by the capacity limit or switched off by a "zero" ablation
    capacity: float  # tokens per expert allowed in this call (inf = unlimited)

    @property
    def n_experts(self) -> int:
        return self.probs.shape[-1]

    @property
    def top_k(self) -> int:
        return self.expert_idx.shape[-1]

    def expert_counts(self) -> torch.Tensor:
        """(E,) number of kept (token, slot) assignments per expert."""
        kept = self.expert_idx[~self.dropped]
        return torch.bincount(kept.flatten(), minlength=self.n_experts)

    def token_dropped(self) -> torch.Tensor:
        """(B, T) bool: every one of the token's K slots was dropped."""
        return self.dropped.all(dim=-1)
