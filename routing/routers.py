"""Routers: token representation -> chosen experts and their gate weights.

Shapes: N tokens, D model width, E experts, K experts per token.

Every router is a linear gate (D -> E) followed by a selection rule; subclasses change only the
piece that differs. Per-call settings (top-k, noise and its seed) come as arguments; a router never
changes its own state in forward. The one piece of state that moves outside the gradient, the
bias of the bias-balanced router, changes only through its explicit `update_bias` call.

- SoftmaxTopKRouter: softmax over E, take the top-k, optionally renormalise the k weights (Mixtral,
  `norm_topk_prob`). Taking the top-k is the sparsity itself: renormalised, the k weights are a softmax
  over the kept logits only (a masked softmax). Also serves the "capacity" kind (Switch: top-1, gate =
  the raw router probability, never renormalised: a renormalised top-1 gate is always 1.0 and the router
  would get no gradient from the language-model loss); the capacity limit itself is applied by the MoE
  layer, for any router, see routing/capacity.py.
- NoisyTopKRouter: Shazeer et al. 2017: logits + N(0,1) * softplus(x W_noise), only when asked.
- BiasBalancedRouter: DeepSeek-V3 / Wang et al. 2024: a per-expert bias added to the scores only to
  choose experts; gate weights come from the unbiased probabilities.
Every real family's rule (sigmoid scores, groups, scaling) is routing/rules.RuleRouter, which also builds
any router kind by name (`build_router`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from routing.options import RoutingOptions



@dataclass(frozen=True)
class RouterDecision:
    logits: torch.Tensor  # (N, E)
    probs: torch.Tensor  # (N, E) a distribution over the experts (balancing losses, entropy, confidence read it)
    expert_idx: torch.Tensor  # (N, K)
    gate_weights: torch.Tensor  # (N, K)
    scores: torch.Tensor | None = None  # (N, E) what the rule ranks, where that is not `probs` (sigmoid scores)


def gaussian_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like x, drawn on the generator's device (the same draws wherever x lives)."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


class SoftmaxTopKRouter(nn.Module):
    def __init__(self, d_model: int, n_experts: int, normalize_topk: bool):
        super().__init__()
        self.n_experts = n_experts
        self.normalize_topk = normalize_topk
        self.gate = nn.Linear(d_model, n_experts, bias=False)

    def product(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, D) -> the gate's logits (N, E)."""
        return self.gate(x)

    @property
    def selection_bias(self) -> torch.Tensor | None:
        """(E,) the bias added to the scores only to choose experts, or None."""
        return None

    def router_logits(self, x: torch.Tensor, opts: RoutingOptions, generator: torch.Generator | None) -> torch.Tensor:
        logits = self.product(x)  # (N, E)
        if opts.noise_std > 0:
            logits = logits + opts.noise_std * gaussian_like(logits, generator)
        return logits

    def selection_scores(self, probs: torch.Tensor) -> torch.Tensor:
        """Scores the top-k is taken over; the probabilities themselves unless a subclass biases them."""
        return probs

    def gates(self, probs: torch.Tensor, expert_idx: torch.Tensor) -> torch.Tensor:
        """probs (N, E), expert_idx (N, K) -> gate weights (N, K): the probabilities of the chosen
        experts, renormalised over them when the router renormalises."""
        weights = probs.gather(-1, expert_idx)  # (N, K)
        return weights / weights.sum(dim=-1, keepdim=True) if self.normalize_topk else weights

    def forward(
        self, x: torch.Tensor, top_k: int, opts: RoutingOptions, generator: torch.Generator | None = None,
        excluded: torch.Tensor | None = None, forced: torch.Tensor | None = None,
    ) -> RouterDecision:
        """excluded (N, E) bool: experts that may not be chosen (re-routing ablation); forced (N, K) long:
        rows >= 0 replace the choice (routing/interventions.py)."""
        logits = self.router_logits(x, opts, generator)
        probs = torch.softmax(logits.float(), dim=-1)  # (N, E) in fp32 whatever x is: bf16 rounding would tie choices
        scores = self.selection_scores(probs)
        if excluded is not None:
            scores = scores.masked_fill(excluded, float("-inf"))
        expert_idx = torch.topk(scores, top_k, dim=-1).indices  # (N, K)
        if forced is not None:
            expert_idx = torch.where((forced >= 0).all(-1, keepdim=True), forced, expert_idx)
        return RouterDecision(logits, probs, expert_idx, self.gates(probs, expert_idx).to(x.dtype))


class NoisyTopKRouter(SoftmaxTopKRouter):
    def __init__(self, d_model: int, n_experts: int, normalize_topk: bool):
        super().__init__(d_model, n_experts, normalize_topk)
        self.noise = nn.Linear(d_model, n_experts, bias=False)

    def router_logits(self, x: torch.Tensor, opts: RoutingOptions, generator: torch.Generator | None) -> torch.Tensor:
        logits = super().router_logits(x, opts, generator)
        if opts.learned_noise:
            logits = logits + gaussian_like(logits, generator) * F.softplus(self.noise(x))
        return logits


class BiasBalancedRouter(SoftmaxTopKRouter):
    def __init__(self, d_model: int, n_experts: int, normalize_topk: bool, update_rate: float):
        super().__init__(d_model, n_experts, normalize_topk)
        self.update_rate = update_rate
        self.register_buffer("bias", torch.zeros(n_experts))

    def selection_scores(self, probs: torch.Tensor) -> torch.Tensor:
        return probs + self.bias

    @property
    def selection_bias(self) -> torch.Tensor:
        return self.bias

    def update_bias(self, expert_counts: torch.Tensor) -> None:
        step_bias(self.bias, expert_counts, self.update_rate)


@torch.no_grad()
def step_bias(bias: torch.Tensor, expert_counts: torch.Tensor, rate: float) -> None:
    """Move each selection bias by `rate` toward balance: up for underloaded experts, down for overloaded."""
    counts = expert_counts.to(bias.dtype)
    bias += rate * torch.sign(counts.mean() - counts)
