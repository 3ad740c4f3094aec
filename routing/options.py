"""Per-call routing options.

Routing settings that a user may change (top-k, capacity, noise) travel with each forward call in a
frozen `RoutingOptions`; nothing here or in the routers mutates a shared module to apply them, so many
users can share one loaded model without seeing each other's settings.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from routing.interventions import ABLATION_MODES
from text import tr

DISPATCH_BACKENDS = ("auto", "loop", "sorted", "grouped")


def check_top_k(top_k: object, n_experts: int, name: str = "top_k", error: type[Exception] = ValueError) -> int:
    """The one check of a top-K value, used by configs, options, accounting, the page and the lab: an
    integer 1..E; raises `error` (a ValueError unless the caller names its own kind) naming `name`."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= n_experts:
        raise error(tr("{name} must be an integer between 1 and the number of experts ({n}), got {value!r}", name=tr(name),
                       n=n_experts, value=top_k))
    return top_k


@dataclass(frozen=True)
class RoutingOptions:
    """Settings for one forward pass.

    top_k:            experts per token; None = the model's configured top-k. Any 1..E is allowed.
    capacity_factor:  None = the model's configured value; math.inf = no capacity limit.
    noise_std:        std of extra Gaussian noise added to router logits (0 = none), for exploration.
    noise_seed:       seed for every random draw of this call (extra and learned noise); None = global RNG.
    learned_noise:    apply a noisy router's learned noise (Shazeer 2017). Only training asks for it.
    dispatch:         expert dispatch backend: auto | loop | sorted | grouped (same numbers, different speed).
    ablation:         bool (L, E) or (B, L, E): experts switched off per MoE layer (routing/interventions.py).
    ablation_mode:    "reroute" (tokens take their next-best expert) or "zero" (the expert's output is dropped).
    forced:           long (L, T, K) or (B, L, T, K): experts forced per (layer, position), -1 = not forced.
    """

    top_k: int | None = None
    capacity_factor: float | None = None
    noise_std: float = 0.0
    noise_seed: int | None = None
    learned_noise: bool = False
    dispatch: str = "auto"
    ablation: torch.Tensor | None = field(default=None, compare=False)
    ablation_mode: str = "reroute"
    forced: torch.Tensor | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1):
            raise ValueError(f"top_k must be a positive integer, got {self.top_k!r}")
        if self.capacity_factor is not None and not (
            isinstance(self.capacity_factor, (int, float)) and self.capacity_factor > 0 and not math.isnan(self.capacity_factor)
        ):
            raise ValueError(f"capacity_factor must be a positive number or inf (no limit), got {self.capacity_factor!r}")
        if not (isinstance(self.noise_std, (int, float)) and math.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ValueError(f"noise_std must be a finite number >= 0, got {self.noise_std!r}")
        if self.dispatch not in DISPATCH_BACKENDS:
            raise ValueError(f"dispatch must be one of {DISPATCH_BACKENDS}, got {self.dispatch!r}")
        if self.ablation_mode not in ABLATION_MODES:
            raise ValueError(f"ablation_mode must be one of {ABLATION_MODES}, got {self.ablation_mode!r}")

    def resolve_top_k(self, default: int, n_experts: int) -> int:
        return check_top_k(default if self.top_k is None else self.top_k, n_experts)

    def resolve_capacity(self, default: float | None) -> float:
        """The capacity factor in force; math.inf when unlimited."""
        cf = default if self.capacity_factor is None else self.capacity_factor
        return math.inf if cf is None else float(cf)
