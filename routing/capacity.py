"""Expert capacity: which (token, slot) assignments overflow an expert and are dropped.

capacity = ceil(capacity_factor * N * K / E) assignments per expert, N tokens in the call. For K = 1
this is the Switch Transformer's capacity_factor * tokens / experts. Assignments are served in
arrival order, first choices before second choices (GShard): all tokens' first choices in token
order, then all second choices, and so on. An expert that is full drops the rest.
"""
from __future__ import annotations

import math

import torch


def expert_capacity(capacity_factor: float, n_tokens: int, top_k: int, n_experts: int) -> float:
    """Assignments each expert may take; math.inf when capacity_factor is inf."""
    if math.isinf(capacity_factor):
        return math.inf
    return float(math.ceil(capacity_factor * n_tokens * top_k / n_experts))


def capacity_drop_mask(expert_idx: torch.Tensor, n_experts: int, capacity: float) -> torch.Tensor:
    """expert_idx (N, K) -> (N, K) bool, True where the assignment overflows its expert."""
    if math.isinf(capacity):
        return torch.zeros_like(expert_idx, dtype=torch.bool)
    order = expert_idx.t().reshape(-1)  # (K*N,) slot-major: all first choices, then all second
    one_hot = torch.nn.functional.one_hot(order, n_experts)  # (K*N, E)
    position = (one_hot.cumsum(0) * one_hot).sum(-1) - 1  # (K*N,) arrival position in its expert's queue
    dropped = position >= capacity
    return dropped.reshape(expert_idx.shape[1], expert_idx.shape[0]).t()


def capacity_dropped(expert_idx: torch.Tensor, capacity_factor: float, n_experts: int) -> torch.Tensor:
    """expert_idx (N, K) of all N tokens of a call -> (N, K) bool: what a capacity factor drops among them."""
    capacity = expert_capacity(capacity_factor, expert_idx.shape[0], expert_idx.shape[1], n_experts)
    return capacity_drop_mask(expert_idx, n_experts, capacity)
