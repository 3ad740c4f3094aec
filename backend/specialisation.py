"""What do the experts specialise in? Routing statistics of the zoo's MoE models on the held-out
split (per domain) or on a user's text, each beside its baseline (routing/specialisation.py).

Baselines:
- shuffled order: the same model on the same tokens in a random order (seeded): repeats that survive
  shuffling come from the tokens themselves, repeats that vanish come from context;
- token identity: a lookup router that sends every token id to its most frequent first choice,
  cross-fitted (fit on the even windows, scored on the odd ones and the other way round). How much of the
  routing, the neighbour repeats and the domain preferences it reproduces is what token identity explains;
- domain beyond token identity: I(expert; domain | token) against a permutation null that shuffles the
  domain labels among the occurrences of each token (the plug-in estimate is biased upward; the null
  carries the same bias).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from backend.real_models import get_model
from corpus.streams import eval_windows, load_domains
from corpus.tokenizer import token_label
from models.zoo import load_member
from paths import EVAL_DIR
from routing.options import RoutingOptions
from routing.specialisation import (coactivation, conditional_mutual_information, confidence, expert_shares,
                                    load_first_baseline, lookup_table, permuted_within, repeat_rates, top_tokens,
                                    uniform_any_baseline, uniform_first_baseline)

NULL_PERMUTATIONS = 100

HIST_BINS = 20


@dataclass(frozen=True)
class RepeatRates:
    first: float  # token t and t+1 share their first-choice expert
    any: float  # ... share any of their top-K experts
    shuffled_first: float
    shuffled_any: float
    load_first: float  # sum p_i^2 from the measured first-choice loads
    lookup_first: float  # first-choice repeat rate if every token took its token-identity lookup expert


@dataclass(frozen=True)
class LayerStats:
    layer: int
    shares: dict[str, list[float]]  # group -> (E,) share of assignments
    repeats: dict[str, RepeatRates]
    uniform_first: float
    uniform_any: float
    coactivation: list[list[float]]  # (E, E) share of tokens that chose both i and j
    top_tokens: list[list[tuple[str, int, float]]]  # per expert: (token, count, share of its routings)
    top1_hist: dict[str, list[float]]  # group -> HIST_BINS shares of tokens, top-1 probability in [0, 1]
    entropy_hist: dict[str, list[float]]  # group -> HIST_BINS shares of tokens, entropy in [0, ln E]
    mean_top1: dict[str, float]
    mean_entropy: dict[str, float]
    pooled_shares: list[float]  # (E,) share of assignments over all groups: what a group's share is compared with
    first_shares: dict[str, list[float]]  # group -> (E,) share of first choices, measured
    lookup_first_shares: dict[str, list[float]]  # group -> (E,) share of first choices the lookup router predicts
    lookup_accuracy: float  # share of first choices the cross-fitted token-identity lookup predicts
    domain_information: dict | None  # I(expert; domain | token), nats: measured, null_mean, null_p95 (None: one group)


@dataclass(frozen=True)
class SpecialisationReport:
    model: str
    n_experts: int
    top_k: int
    tokens: dict[str, int]  # group -> tokens analysed
    layers: list[LayerStats]

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def _route(model, windows: torch.Tensor, routing: RoutingOptions, batch: int = 16):
    """windows (W, T) -> per layer (expert_idx (W, T, K), probs (W, T, E))."""
    per_layer: list[list] = []
    for i in range(0, len(windows), batch):
        traces = model(windows[i : i + batch], routing=routing, trace=True).traces
        if not per_layer:
            per_layer = [[] for _ in traces]
        for store, t in zip(per_layer, traces):
            store.append((t.expert_idx, t.probs))
    return [(torch.cat([a for a, _ in s]), torch.cat([b for _, b in s])) for s in per_layer]


def _histogram(values: torch.Tensor, high: float) -> list[float]:
    counts = torch.histc(values.float(), bins=HIST_BINS, min=0.0, max=high)
    return (counts / counts.sum().clamp_min(1)).tolist()


def _mean_repeats(idx: torch.Tensor) -> tuple[float, float]:
    """idx (W, T, K): repeat rates pooled over the windows' neighbour pairs (pairs never cross windows)."""
    rates = [repeat_rates(w) for w in idx]
    return sum(r[0] for r in rates) / len(rates), sum(r[1] for r in rates) / len(rates)


def _cross_fitted_lookup(ids: torch.Tensor, first: torch.Tensor, odd: torch.Tensor, n_experts: int, vocab: int) -> torch.Tensor:
    """ids, first (N,), odd (N,) bool -> (N,) the lookup expert of every token, from the half it is not in."""
    predicted = torch.empty_like(first)
    for fit in (odd, ~odd):
        predicted[~fit] = lookup_table(ids[fit], first[fit], n_experts, vocab)[ids[~fit]]
    return predicted


def _domain_information(ids: torch.Tensor, first: torch.Tensor, domain: torch.Tensor, n_experts: int,
                        n_groups: int, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    measured = conditional_mutual_information(ids, first, domain, n_experts, n_groups)
    null = torch.tensor([conditional_mutual_information(ids, first, permuted_within(ids, domain, gen), n_experts, n_groups)
                         for _ in range(NULL_PERMUTATIONS)])
    return {"measured": measured, "null_mean": float(null.mean()), "null_p95": float(null.quantile(0.95)),
            "beyond_null": measured - float(null.mean()), "permutations": NULL_PERMUTATIONS}


def analyse_groups(name: str, groups: dict[str, torch.Tensor], seed: int = 0, min_count: int = 5,
                   routing: RoutingOptions = RoutingOptions()) -> SpecialisationReport:
    """groups: name -> (W, T) token windows (e.g. one group per domain, or one for a user's text).
    min_count: a token must occur this often to be listed among an expert's top tokens."""
    member = get_model(name)
    cfg = member.model.cfg
    e, k = cfg.n_experts, routing.resolve_top_k(cfg.top_k, cfg.n_experts)
    gen = torch.Generator().manual_seed(seed)
    routed = {g: _route(member.model, w, routing) for g, w in groups.items()}
    shuffled_windows = {g: torch.stack([w[torch.randperm(w.numel(), generator=gen)] for w in ws]) for g, ws in groups.items()}
    shuffled = {g: _route(member.model, w, routing) for g, w in shuffled_windows.items()}
    names = list(groups)
    ids_all = torch.cat([w.reshape(-1) for w in groups.values()])  # (N,)
    domain = torch.cat([torch.full((w.numel(),), i) for i, w in enumerate(groups.values())])  # (N,)
    # cross-fitting halves: odd windows (a single window: its second half)
    odd = torch.cat([(torch.arange(w.shape[0]) % 2 == 1).repeat_interleave(w.shape[1]) if w.shape[0] > 1
                     else torch.arange(w.numel()) >= w.numel() // 2 for w in groups.values()])
    layers = []
    for layer in range(cfg.n_layers):
        shares, repeats, top1_hist, entropy_hist, mean_top1, mean_entropy = {}, {}, {}, {}, {}, {}
        idx_all = torch.cat([routed[g][layer][0].reshape(-1, k) for g in names])  # (N, K)
        first_all = idx_all[:, 0]
        lookup = _cross_fitted_lookup(ids_all, first_all, odd, e, cfg.vocab_size)  # (N,)
        first_shares, lookup_first_shares = {}, {}
        for i, (g, windows) in enumerate(groups.items()):
            idx, probs = routed[g][layer]
            flat_idx = idx.reshape(-1, k)
            in_group = domain == i
            shares[g] = expert_shares(flat_idx, e).tolist()
            first_shares[g] = expert_shares(flat_idx[:, :1], e).tolist()
            lookup_first_shares[g] = expert_shares(lookup[in_group, None], e).tolist()
            first, any_ = _mean_repeats(idx)
            s_first, s_any = _mean_repeats(shuffled[g][layer][0])
            lookup_idx = lookup[in_group].reshape(idx.shape[0], idx.shape[1], 1)  # (W, T, 1)
            repeats[g] = RepeatRates(first, any_, s_first, s_any, load_first_baseline(flat_idx, e), _mean_repeats(lookup_idx)[0])
            top1, entropy = confidence(probs.reshape(-1, e))
            top1_hist[g], entropy_hist[g] = _histogram(top1, 1.0), _histogram(entropy, float(torch.log(torch.tensor(e))))
            mean_top1[g], mean_entropy[g] = float(top1.mean()), float(entropy.mean())
        co = coactivation(idx_all, e) / idx_all.shape[0]
        labels = [[(token_label(member.tokenizer, t), c, s) for t, c, s in top_tokens(ids_all, idx_all, x, min_count=min_count)] for x in range(e)]
        information = _domain_information(ids_all, first_all, domain, e, len(names), seed) if len(names) > 1 else None
        layers.append(LayerStats(layer, shares, repeats, uniform_first_baseline(e), uniform_any_baseline(e, k),
                                 co.tolist(), labels, top1_hist, entropy_hist, mean_top1, mean_entropy,
                                 expert_shares(idx_all, e).tolist(), first_shares, lookup_first_shares,
                                 float((lookup == first_all).double().mean()), information))
    return SpecialisationReport(name, e, k, {g: int(w.numel()) for g, w in groups.items()}, layers)


def held_out_groups(max_windows: int = 32) -> dict[str, torch.Tensor]:
    """The held-out split per domain as (W, T) windows of the zoo's context length (inputs only)."""
    member = load_member("moe-8")
    streams = load_domains(EVAL_DIR, member.tokenizer)
    ctx = member.model.cfg.context_length
    return {d: eval_windows(s, ctx)[:max_windows, :-1] for d, s in streams.items()}


def text_specialisation(name: str, token_ids: list[int], routing: RoutingOptions) -> SpecialisationReport:
    """The same statistics for one text under the user's routing settings (a single window; tokens seen
    twice count as top tokens)."""
    return analyse_groups(name, {"your text": torch.tensor([token_ids])}, min_count=2, routing=routing)
