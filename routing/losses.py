"""Router losses, each returned on its own so the trainer weighs them.

Shapes: N tokens, E experts, K experts per token.

load_balancing_loss (Switch Transformer, eq. 4, extended to top-k):
    L = E * sum_i f_i * P_i
    f_i = share of the N*K (token, slot) assignments that go to expert i  (sum_i f_i = 1)
    P_i = mean router probability of expert i over the N tokens          (sum_i P_i = 1)
Normalising f by N*K (not N) makes perfectly uniform routing give L = 1 for every K, the minimum of
E * sum f_i P_i when f = P. (Hugging Face's `load_balancing_loss_func` divides by N only, so its
value is K times this one.) f comes from a hard top-k choice and carries no gradient; the gradient
reaches the router through P.

router_z_loss (ST-MoE, eq. 5): mean over tokens of logsumexp(logits)^2; keeps logits small.
"""
from __future__ import annotations

import torch


def load_balancing_loss(probs: torch.Tensor, expert_idx: torch.Tensor) -> torch.Tensor:
    """probs (N, E), expert_idx (N, K) -> scalar; 1.0 for perfectly uniform routing."""
    n_experts = probs.shape[-1]
    counts = torch.bincount(expert_idx.flatten(), minlength=n_experts).to(probs.dtype)
    f = counts / expert_idx.numel()  # (E,)
    p = probs.mean(dim=0)  # (E,)
    return n_experts * torch.sum(f * p)


def router_z_loss(logits: torch.Tensor) -> torch.Tensor:
    """logits (N, E) -> scalar mean of logsumexp^2."""
    return torch.logsumexp(logits.float(), dim=-1).pow(2).mean()
