"""Routing rules as data: every MoE family's router is one `RoutingRule` run by one `RuleRouter`.

Shapes: N tokens, D model width, E experts, K experts per token, G expert groups.

The steps, in order (each a field of the rule; the defaults are the softmax top-K the zoo uses):
1. logits = x W^T (+ the router's own bias, gpt-oss), plus Gaussian noise when asked;
2. scores: a softmax over the E experts (a probability distribution) or a sigmoid per expert (DeepSeek-V3,
   GLM-4.5, dots.llm1, LFM2: independent scores in (0, 1) that do not sum to 1);
3. selection: scores + a per-expert bias used only to choose (DeepSeek-V3's balancing without an auxiliary
   loss), then group-limited selection (the G groups of E/G experts ranked by their best score, DeepSeek-V2, or
   the sum of their best two, DeepSeek-V3; only the best `groups_kept` stay eligible, or as many more as a
   larger top-K override needs), then the top-K;
4. gates: the chosen experts' unbiased scores, renormalised (divided by their p-norm: p = 1 is the sum; DBRX
   may use another p) or not, then multiplied by a scaling factor (`routed_scaling_factor`).
A re-routing ablation removes an expert before the groups are ranked, so in a group-limited rule it also
lowers its group's rank: ablating an expert the token did not choose can then change its choice (the page
says so). Noise is added to the logits, before any of this.
The decision's `probs` is always a distribution over the experts (the scores themselves for a softmax, the
sigmoid scores divided by their sum otherwise): balancing losses, entropy and confidence read it; `scores`
is what the rule ranks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from routing.options import RoutingOptions
from routing.routers import BiasBalancedRouter, NoisyTopKRouter, RouterDecision, SoftmaxTopKRouter, step_bias

SCORES = ("softmax", "sigmoid")
ROUTER_KINDS = ("softmax", "noisy", "capacity", "bias", "sigmoid")
GROUP_SCORES = ("max", "top2_sum")
_EXCLUDED = -1e9  # an ablated expert's selection score while groups are ranked (finite: a group sum stays finite)


@dataclass(frozen=True)
class RoutingRule:
    score: str = "softmax"  # softmax | sigmoid
    choice_bias: bool = False  # a per-expert bias added to the scores only to choose
    groups: int = 1  # G groups of E/G consecutive experts
    groups_kept: int = 1  # groups eligible per token
    group_score: str = "max"  # how a group is ranked: its best score (max) or the sum of its best two (top2_sum)
    norm_p: float | None = 1.0  # gates divided by their p-norm (1: renormalised to sum 1); None: not renormalised
    scale: float = 1.0  # gates multiplied by this (routed_scaling_factor)

    def __post_init__(self) -> None:
        if self.score not in SCORES or self.group_score not in GROUP_SCORES:
            raise ValueError(f"score must be one of {SCORES} and group_score one of {GROUP_SCORES}; got {self}")
        if not 1 <= self.groups_kept <= self.groups:
            raise ValueError(f"groups_kept must be 1..groups, got {self.groups_kept} of {self.groups}")

    def check(self, n_experts: int) -> None:
        """ValueError where this rule cannot split n_experts experts into its groups."""
        if n_experts % self.groups or (self.group_score == "top2_sum" and n_experts // self.groups < 2):
            raise ValueError(f"{n_experts} experts do not split into {self.groups} groups of the size this rule ranks")

    def groups_for(self, top_k: int, n_experts: int) -> int:
        """Groups kept for a top-K: the rule's own, or as many more as a larger top-K needs (so that a top-K
        override, up to every expert, runs on a group-limited rule too)."""
        return max(self.groups_kept, -(-top_k // (n_experts // self.groups)))


class RuleRouter(SoftmaxTopKRouter):
    """Any `RoutingRule` behind the routers' one interface (routing/routers.py). The gate and the choice bias
    may be a checkpoint's own tensors (assigned after construction); `logits_in_float32` computes the router
    product in float32 whatever the model's dtype (as DeepSeek's and ERNIE's code do)."""

    def __init__(self, d_model: int, n_experts: int, rule: RoutingRule, router_bias: bool = False,
                 logits_in_float32: bool = False, update_rate: float = 0.0):
        super().__init__(d_model, n_experts, normalize_topk=rule.norm_p is not None)
        self.rule, self.logits_in_float32, self.update_rate = rule, logits_in_float32, update_rate
        self.gate = nn.Linear(d_model, n_experts, bias=router_bias)
        self.register_buffer("choice_bias", torch.zeros(n_experts) if rule.choice_bias else None)

    @property
    def selection_bias(self) -> torch.Tensor | None:
        return None if self.choice_bias is None else self.choice_bias.reshape(-1)

    def update_bias(self, expert_counts: torch.Tensor) -> None:
        """Training: move the selection bias toward balance (a rule with a choice bias only)."""
        step_bias(self.choice_bias, expert_counts, self.update_rate)

    def product(self, x: torch.Tensor) -> torch.Tensor:
        """In float32 when asked, else in the router weight's dtype (a checkpoint may keep its router in float32
        beside bf16 experts, as Hunyuan does)."""
        dtype = torch.float32 if self.logits_in_float32 else self.gate.weight.dtype
        bias = None if self.gate.bias is None else self.gate.bias.to(dtype)
        return F.linear(x.to(dtype), self.gate.weight.to(dtype), bias)

    def forward(self, x: torch.Tensor, top_k: int, opts: RoutingOptions, generator: torch.Generator | None = None,
                excluded: torch.Tensor | None = None, forced: torch.Tensor | None = None) -> RouterDecision:
        rule = self.rule
        logits = self.router_logits(x, opts, generator)
        scores = torch.softmax(logits.float(), -1) if rule.score == "softmax" else torch.sigmoid(logits.float())  # (N, E)
        choice = scores if self.selection_bias is None else scores + self.selection_bias.float()
        if excluded is not None:
            choice = choice.masked_fill(excluded, _EXCLUDED)
        if rule.groups > 1:
            choice = choice.masked_fill(~self.kept_groups(choice, top_k), float("-inf"))
        if excluded is not None:
            choice = choice.masked_fill(excluded, float("-inf"))
        expert_idx = torch.topk(choice, top_k, dim=-1).indices  # (N, K)
        if forced is not None:
            expert_idx = torch.where((forced >= 0).all(-1, keepdim=True), forced, expert_idx)
        gates = scores.gather(-1, expert_idx)  # (N, K) from the unbiased scores
        if rule.norm_p is not None:
            gates = gates / torch.linalg.vector_norm(gates, ord=rule.norm_p, dim=-1, keepdim=True).clamp_min(1e-20)
        probs = scores if rule.score == "softmax" else scores / scores.sum(-1, keepdim=True)
        return RouterDecision(logits, probs, expert_idx, (gates * rule.scale).to(x.dtype), scores)

    def kept_groups(self, choice: torch.Tensor, top_k: int) -> torch.Tensor:
        """choice (N, E) -> (N, E) bool: the experts of each token's `groups_kept` best groups."""
        rule = self.rule
        grouped = choice.reshape(choice.shape[0], rule.groups, -1)  # (N, G, E/G)
        rank = grouped.max(-1).values if rule.group_score == "max" else grouped.topk(2, dim=-1).values.sum(-1)  # (N, G)
        kept_count = rule.groups_for(top_k, choice.shape[-1])
        kept = torch.zeros_like(rank, dtype=torch.bool).scatter_(1, rank.topk(kept_count, dim=-1).indices, True)
        return kept.repeat_interleave(grouped.shape[-1], dim=1)


def rule_of(router: nn.Module) -> RoutingRule:
    """The rule any router of routing/ follows (the zoo's softmax and bias-balanced routers are rules too)."""
    if isinstance(router, RuleRouter):
        return router.rule
    return RoutingRule(choice_bias=router.selection_bias is not None, norm_p=1.0 if router.normalize_topk else None)


def build_router(kind: str, d_model: int, n_experts: int, normalize_topk: bool = True,
                 bias_update_rate: float = 0.001) -> SoftmaxTopKRouter:
    """A router of one of ROUTER_KINDS. The "capacity" kind never renormalises its gate (routing/routers.py); "sigmoid"
    is DeepSeek-V3's rule: sigmoid scores and a selection-only bias moved toward balance while training."""
    if kind == "noisy":
        return NoisyTopKRouter(d_model, n_experts, normalize_topk)
    if kind == "bias":
        return BiasBalancedRouter(d_model, n_experts, normalize_topk, bias_update_rate)
    if kind == "capacity":
        return SoftmaxTopKRouter(d_model, n_experts, normalize_topk=False)
    if kind == "sigmoid":
        return RuleRouter(d_model, n_experts, RoutingRule("sigmoid", True, norm_p=1.0 if normalize_topk else None),
                          update_rate=bias_update_rate)
    if kind == "softmax":
        return SoftmaxTopKRouter(d_model, n_experts, normalize_topk)
    raise ValueError(f"router must be one of {ROUTER_KINDS}, got {kind!r}")
