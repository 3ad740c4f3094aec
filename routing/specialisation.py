"""Routing statistics for specialisation analysis, and the baselines that keep them honest.

Pure tensor functions over one layer's routing of a token sequence. Shapes: T tokens (in order),
K experts per token (best first), E experts.

- expert_shares:        share of (token, slot) assignments per expert (uniform: 1/E each; a token
                        "uses" an expert with probability K/E under uniform routing)
- repeat_rates:         how often token t and t+1 share their first-choice expert, and share any of
                        their top-K experts
- uniform baselines:    1/E for the first choice; 1 - C(E-K, K) / C(E, K) for any shared expert
- load baseline:        sum_i p_i^2 with p_i the first-choice share of expert i: the repeat rate of
                        tokens drawn independently from the measured loads
- coactivation:         (E, E) counts of experts chosen together for the same token
- top_tokens:           the token ids most often routed to an expert, with the share of each token's
                        routings that expert receives
- confidence:           top-1 router probability and router entropy per token
"""
from __future__ import annotations

import math

import torch


def expert_shares(expert_idx: torch.Tensor, n_experts: int) -> torch.Tensor:
    """expert_idx (T, K) -> (E,) share of the T*K assignments."""
    counts = torch.bincount(expert_idx.flatten(), minlength=n_experts).double()
    return counts / counts.sum().clamp_min(1)


def repeat_rates(expert_idx: torch.Tensor) -> tuple[float, float]:
    """expert_idx (T, K) -> (first-choice repeat rate, any-shared-expert rate) over the T-1 neighbour pairs."""
    if expert_idx.shape[0] < 2:
        return math.nan, math.nan
    first = (expert_idx[1:, 0] == expert_idx[:-1, 0]).double().mean().item()
    shared = (expert_idx[1:, :, None] == expert_idx[:-1, None, :]).any(-1).any(-1).double().mean().item()
    return first, shared


def uniform_first_baseline(n_experts: int) -> float:
    return 1.0 / n_experts


def uniform_any_baseline(n_experts: int, top_k: int) -> float:
    """P(two independent uniform K-subsets of E experts intersect)."""
    if 2 * top_k > n_experts:
        return 1.0
    return 1.0 - math.comb(n_experts - top_k, top_k) / math.comb(n_experts, top_k)


def load_first_baseline(expert_idx: torch.Tensor, n_experts: int) -> float:
    """sum_i p_i^2 over the measured first-choice shares p_i."""
    p = torch.bincount(expert_idx[:, 0], minlength=n_experts).double()
    p = p / p.sum().clamp_min(1)
    return float((p * p).sum())


def coactivation(expert_idx: torch.Tensor, n_experts: int) -> torch.Tensor:
    """(E, E) number of tokens that chose both experts i and j (i != j); the diagonal counts tokens per expert."""
    one_hot = torch.zeros(expert_idx.shape[0], n_experts, dtype=torch.float64)
    one_hot.scatter_(1, expert_idx, 1.0)
    return one_hot.t() @ one_hot


def top_tokens(token_ids: torch.Tensor, expert_idx: torch.Tensor, expert: int, n: int = 10,
               min_count: int = 5) -> list[tuple[int, int, float]]:
    """-> [(token_id, times routed to `expert`, share of that token's occurrences routed to it)], most first.

    Counts every slot (top-K). Tokens seen fewer than min_count times are left out (shares of rare
    tokens are noise)."""
    hits = (expert_idx == expert).any(-1)  # (T,)
    occurrences = torch.bincount(token_ids)
    routed = torch.bincount(token_ids[hits], minlength=occurrences.numel())
    order = torch.argsort(routed, descending=True, stable=True)
    out = []
    for tok in order.tolist():
        if routed[tok] == 0 or len(out) == n:
            break
        if occurrences[tok] >= min_count:
            out.append((tok, int(routed[tok]), int(routed[tok]) / int(occurrences[tok])))
    return out


def confidence(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """probs (T, E) -> (top-1 router probability (T,), router entropy in nats (T,))."""
    p = probs.double().clamp_min(1e-12)
    return probs.double().max(-1).values, -(p * p.log()).sum(-1)


def lookup_table(token_ids: torch.Tensor, first: torch.Tensor, n_experts: int, vocab: int) -> torch.Tensor:
    """The token-identity router fit on (token_ids (N,), first-choice experts (N,)): for every token id its
    most frequent first choice, and for ids never seen the most frequent expert overall -> (vocab,)."""
    counts = torch.bincount(token_ids * n_experts + first, minlength=vocab * n_experts).reshape(vocab, n_experts)
    table = counts.argmax(-1)
    table[counts.sum(-1) == 0] = torch.bincount(first, minlength=n_experts).argmax()
    return table


def lookup_accuracy(token_ids: torch.Tensor, first: torch.Tensor, n_experts: int, vocab: int,
                    halves: torch.Tensor) -> float:
    """Share of first choices a token-identity lookup predicts, cross-fitted: a table fit on one half of the
    data (halves (N,) bool) predicts the other, and the other way round, so it cannot memorise."""
    correct = 0
    for fit in (halves, ~halves):
        table = lookup_table(token_ids[fit], first[fit], n_experts, vocab)
        correct += int((table[token_ids[~fit]] == first[~fit]).sum())
    return correct / len(first)


def conditional_mutual_information(token_ids: torch.Tensor, expert: torch.Tensor, domain: torch.Tensor,
                                   n_experts: int, n_domains: int) -> float:
    """I(expert; domain | token) in nats, plug-in estimate from counts: what the domain tells about the
    expert beyond the token's identity (0 when token identity explains the routing)."""
    _, token = torch.unique(token_ids, return_inverse=True)
    n_tokens = int(token.max()) + 1
    joint = torch.bincount((token * n_experts + expert) * n_domains + domain,
                           minlength=n_tokens * n_experts * n_domains).reshape(n_tokens, n_experts, n_domains).double()
    per_token = joint.sum((1, 2), keepdim=True)  # (V, 1, 1)
    p_ed = joint / per_token.clamp_min(1)  # p(e, d | t)
    p_e, p_d = p_ed.sum(2, keepdim=True), p_ed.sum(1, keepdim=True)
    ratio = torch.where(p_ed > 0, p_ed / (p_e * p_d).clamp_min(1e-300), torch.ones_like(p_ed))
    return float((joint * ratio.log()).sum() / joint.sum())


def permuted_within(groups: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """labels (N,) shuffled among the positions of each group (same token id): the null in which the
    label carries no information beyond the group."""
    by_group = torch.argsort(groups, stable=True)
    random_within = torch.argsort(groups.double() + torch.rand(len(groups), generator=generator, dtype=torch.float64) * 0.5)
    out = torch.empty_like(labels)
    out[by_group] = labels[random_within]
    return out
