"""The MoE layer: router -> capacity -> fused experts, plus its losses and optional trace.

Shapes: B batch, T tokens, N = B*T, D model width, E experts, K experts per token.
Every per-call setting arrives in `RoutingOptions`; the layer keeps no per-call state.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn

from models.config import ModelConfig
from models.experts import FusedExperts
from routing.capacity import capacity_drop_mask, expert_capacity
from routing.losses import load_balancing_loss, router_z_loss
from routing.interventions import forced_rows, layer_rows
from routing.options import RoutingOptions
from routing.routers import RouterDecision
from routing.rules import build_router
from routing.trace import RoutingTrace


@dataclass(frozen=True)
class MoEAux:
    """What a layer reports besides its output. The losses are computed when first read, so inference,
    which never reads them, does not pay for them."""
    decision: RouterDecision
    trace: RoutingTrace | None

    @functools.cached_property
    def aux_loss(self) -> torch.Tensor:
        """Scalar load-balancing loss (1.0 = uniform), unweighted."""
        return load_balancing_loss(self.decision.probs, self.decision.expert_idx)

    @functools.cached_property
    def z_loss(self) -> torch.Tensor:
        """Scalar router z-loss, unweighted."""
        return router_z_loss(self.decision.logits)


class MoELayer(nn.Module):
    """router: a routing/routers module; experts: anything with FusedExperts' forward signature and
    `n_experts` (the zoo's own FusedExperts, or views of a transformers checkpoint's experts)."""

    def __init__(self, layer: int, router: nn.Module, experts: nn.Module, top_k: int, capacity_factor: float | None):
        super().__init__()
        self.layer = layer
        self.default_top_k = top_k
        self.default_capacity = capacity_factor
        self.router = router
        self.experts = experts

    @classmethod
    def from_config(cls, cfg: ModelConfig, layer: int) -> "MoELayer":
        router = build_router(cfg.router, cfg.d_model, cfg.n_experts, cfg.normalize_topk, cfg.bias_update_rate)
        return cls(layer, router, FusedExperts(cfg.n_experts, cfg.d_model, cfg.d_ff), cfg.top_k, cfg.capacity_factor)

    def forward(
        self, x: torch.Tensor, opts: RoutingOptions, generator: torch.Generator | None, trace: bool
    ) -> tuple[torch.Tensor, MoEAux]:
        b, t, d = x.shape
        n_experts = self.experts.n_experts
        flat = x.reshape(b * t, d)  # (N, D)
        k = opts.resolve_top_k(self.default_top_k, n_experts)
        ablated = layer_rows(opts.ablation, self.layer, b, t, x.device)  # (N, E) or None
        rerouted = ablated is not None and opts.ablation_mode == "reroute"
        decision = self.router(flat, k, opts, generator, excluded=ablated if rerouted else None,
                               forced=forced_rows(opts.forced, self.layer, b, t, x.device))
        capacity = expert_capacity(opts.resolve_capacity(self.default_capacity), b * t, k, n_experts)
        dropped = None if math.isinf(capacity) else capacity_drop_mask(decision.expert_idx, n_experts, capacity)  # (N, K)
        if ablated is not None and not rerouted:  # "zero": an ablated expert's slots add nothing
            zeroed = ablated.gather(-1, decision.expert_idx)  # (N, K)
            dropped = zeroed if dropped is None else dropped | zeroed
        out = self.experts(flat, decision.expert_idx, decision.gate_weights, dropped, opts.dispatch)
        return out.reshape(b, t, d), MoEAux(decision, self._trace(decision, dropped, capacity, b, t) if trace else None)

    def _trace(self, decision, dropped: torch.Tensor | None, capacity: float, b: int, t: int) -> RoutingTrace:
        if dropped is None:
            dropped = torch.zeros_like(decision.expert_idx, dtype=torch.bool)

        def shaped(v: torch.Tensor) -> torch.Tensor:
            return v.detach().reshape(b, t, -1)

        return RoutingTrace(
            layer=self.layer,
            logits=shaped(decision.logits),
            probs=shaped(decision.probs),
            expert_idx=shaped(decision.expert_idx),
            gate_weights=shaped(decision.gate_weights),
            dropped=shaped(dropped),
            capacity=capacity,
        )
