"""Load statistics of one routing trace: expert shares, load CV, dead experts, entropy, drops.

Shapes: B batch, T tokens, E experts, K experts per token.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from routing.specialisation import confidence
from routing.trace import RoutingTrace

DEAD_SHARE_OF_UNIFORM = 0.1  # an expert is "dead" when its share is below 10% of the uniform share 1/E


@dataclass(frozen=True)
class LoadStats:
    shares: list[float]  # (E,) share of kept assignments per expert; sums to 1 (0s if all dropped)
    load_cv: float  # coefficient of variation (std / mean) of the per-expert counts; 0 = perfectly even
    dead_experts: int  # experts whose share is below DEAD_SHARE_OF_UNIFORM / E
    router_entropy: float  # mean over tokens of the router distribution's entropy, nats (max log E)
    dropped_fraction: float  # share of (token, slot) assignments dropped by the capacity limit


def load_stats(trace: RoutingTrace) -> LoadStats:
    counts = trace.expert_counts().double()  # (E,)
    e = trace.n_experts
    total = counts.sum()
    shares = counts / total if total > 0 else torch.zeros_like(counts)
    mean = counts.mean()
    cv = float(counts.std(unbiased=False) / mean) if mean > 0 else 0.0
    entropy = float(confidence(trace.probs.reshape(-1, e))[1].mean())
    return LoadStats(
        shares=shares.tolist(),
        load_cv=cv,
        dead_experts=int((shares < DEAD_SHARE_OF_UNIFORM / e).sum()),
        router_entropy=entropy,
        dropped_fraction=float(trace.dropped.double().mean()),
    )
