"""Interventions: change the routing of a zoo MoE on the user's text and measure what it costs.

- `top_k_sweep`: loss and perplexity of the MoE at every K from 1 to E, with active parameters and
  measured decode speed per K, beside the dense twins ("how many experts does this text need?");
- `ablate`: switch off chosen experts in one layer or all; "reroute" (tokens take their next-best
  expert, llama.cpp's --omit-experts) or "zero" (the expert's output is dropped). Per-token loss change,
  the tokens most affected, the load after re-routing;
- `expert_importance`: the loss increase when each expert alone is ablated, per layer: E x L ablations
  run as batch rows of one forward pass (each row its own ablation mask);
- `force`: route a span of tokens (or all) to chosen experts in one layer or all.
Every function validates what a user sends (InputError naming the field) and calls the model with
per-call `RoutingOptions` (routing/interventions.py), so concurrent users never share a setting.

Shapes: T tokens, L MoE layers, E experts, K experts per token.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch

from backend.analysis import InputError, Settings, mean_loss, token_losses, tokenize
from backend.real_models import get_model
from backend.timing import measure_latency
from corpus.tokenizer import token_labels
from errors import int_in_range
from models.params import count_arch
from models.transformer import lm_loss
from models.zoo import LoadedModel
from routing.interventions import ABLATION_MODES
from routing.rules import rule_of
from routing.options import RoutingOptions
from text import tr

TOP_AFFECTED = 10
IMPORTANCE_ROWS_PER_PASS = 16  # batch rows per forward pass (bounds the (rows, T, vocab) logits)
EVERY_K_UP_TO = 32  # a top-K sweep evaluates every K up to this many experts (the zoo: all), a spread beyond


@dataclass(frozen=True)
class SweepPoint:
    k: int
    mean_loss: float | None  # nats/token
    perplexity: float | None
    active_params: int
    decode_tokens_per_s: float | None  # median; None when not measured
    decode_low: float | None  # min over repetitions
    decode_high: float | None  # max over repetitions


@dataclass(frozen=True)
class TopKSweep:
    model: str
    trained_k: int
    tokens: int
    points: list[SweepPoint]  # K = 1..E
    dense: dict[str, SweepPoint]  # the dense twins (k = 1: their one FFN)
    timing: str  # what was timed, or why nothing was

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AffectedToken:
    position: int
    token: str
    before: float  # loss (nats) predicting this token, no intervention
    after: float
    change: float


@dataclass(frozen=True)
class InterventionReport:
    """Per-token loss of the MoE with and without one intervention (ablation or forcing)."""
    model: str
    description: str
    tokens: list[str]
    losses_before: list[float | None]  # (T,), None for the first token
    losses_after: list[float | None]
    mean_before: float | None
    mean_after: float | None
    most_affected: list[AffectedToken]  # largest |change| first
    load_before: list[list[int]]  # (L, E) kept assignments per expert
    load_after: list[list[int]]
    changed_choices: list[float]  # (L,) share of tokens whose chosen experts changed

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ImportanceReport:
    model: str
    mode: str
    tokens: list[str]
    mean_before: float
    increase: list[list[float]]  # (L, E) mean loss increase (nats/token) when that expert alone is ablated
    hurt_tokens: list[list[list[AffectedToken]]]  # (L, E) the tokens each ablation hurts most

    def to_dict(self) -> dict:
        return asdict(self)


def _most_affected(labels: list[str], before: list[float | None], after: list[float | None],
                   n: int = TOP_AFFECTED) -> list[AffectedToken]:
    rows = [AffectedToken(i, labels[i], b, a, a - b) for i, (b, a) in enumerate(zip(before, after)) if b is not None]
    return sorted(rows, key=lambda r: -abs(r.change))[:n]


def _prepare(text: str, settings: Settings) -> tuple[LoadedModel, torch.Tensor, list[str], RoutingOptions]:
    member = get_model(settings.moe_name)
    ids, _, _ = tokenize(text, member)
    if len(ids) < 2:
        raise InputError(tr("the text is a single token: there is nothing to predict, so no loss to compare"))
    return member, torch.tensor([ids]), token_labels(member.tokenizer, ids), settings.routing()


def _layer_and_experts(member: LoadedModel, layer, experts) -> tuple[list[int], list[int]]:
    """Validated user choices: layer None = all MoE layers; experts a non-empty list of distinct ids."""
    cfg = member.model.cfg
    layers = list(range(cfg.n_layers)) if layer is None else [int_in_range("layer", layer, 0, cfg.n_layers - 1)]
    if not isinstance(experts, (list, tuple)) or not experts:
        raise InputError(tr("experts: choose at least one expert"))
    chosen = [int_in_range("expert", e, 0, cfg.n_experts - 1) for e in experts]
    if len(set(chosen)) != len(chosen):
        raise InputError(tr("experts must be different, got {value}", value=chosen))
    return layers, chosen


def _loads(traces) -> list[list[int]]:
    return [t.expert_counts().tolist() for t in traces]


def _report(member, description, labels, before, traces_before, after, traces_after) -> InterventionReport:
    changed = [float((a.expert_idx.sort(-1).values != b.expert_idx.sort(-1).values).any(-1).float().mean())
               for a, b in zip(traces_after, traces_before)]
    return InterventionReport(member.spec.name, description, labels, before, after, mean_loss(before), mean_loss(after),
                              _most_affected(labels, before, after), _loads(traces_before), _loads(traces_after), changed)


def ablate(text: str, settings: Settings, layer: int | None, experts: list[int], mode: str = "reroute") -> InterventionReport:
    """Switch off `experts` in `layer` (None = every layer) and compare per-token losses."""
    if mode not in ABLATION_MODES:
        raise InputError(tr("mode must be one of {choices}, got {value!r}", choices=", ".join(ABLATION_MODES), value=mode))
    member, ids, labels, routing = _prepare(text, settings)
    layers, chosen = _layer_and_experts(member, layer, experts)
    cfg = member.model.cfg
    if mode == "reroute" and cfg.n_experts - len(chosen) < settings.top_k:
        raise InputError(tr("experts: re-routing needs top-K = {k} experts left; {n} of {total} are switched off",
                            k=settings.top_k, n=len(chosen), total=cfg.n_experts))
    mask = torch.zeros(cfg.n_layers, cfg.n_experts, dtype=torch.bool)
    mask[[i for i in layers for _ in chosen], [e for _ in layers for e in chosen]] = True
    before, traces_before = token_losses(member, ids, routing, trace=True)
    after, traces_after = token_losses(member, ids, replace(routing, ablation=mask, ablation_mode=mode), trace=True)
    where = tr("every layer") if layer is None else tr("layer {layer}", layer=layers[0])
    what = tr("tokens re-routed to their next-best experts") if mode == "reroute" else tr("their outputs dropped")
    named = dict(experts=", ".join(map(str, chosen)), where=where, what=what)
    description = (tr("expert {experts} switched off in {where} ({what})", **named) if len(chosen) == 1
                   else tr("experts {experts} switched off in {where} ({what})", **named))
    if mode == "reroute" and any(rule_of(m.router).groups > 1 for m in member.model.moe_layers()):
        description += tr("; under this model's group-limited rule a switched-off expert also lowers its group's rank, so "
                          "tokens that did not choose it may choose differently too")
    return _report(member, description, labels, before, traces_before, after, traces_after)


def force(text: str, settings: Settings, experts: list[int], start: int = 0, end: int | None = None,
          layer: int | None = None) -> InterventionReport:
    """Route positions start..end (inclusive; end None = the last) in `layer` (None = all) to exactly
    `experts` (top-K of them) and compare per-token losses."""
    member, ids, labels, routing = _prepare(text, settings)
    layers, chosen = _layer_and_experts(member, layer, experts)
    if len(chosen) != settings.top_k:
        raise InputError(tr("experts: choose exactly top-K = {k} experts to force, got {n}", k=settings.top_k, n=len(chosen)))
    t = ids.shape[1]
    start = int_in_range("start position", start, 0, t - 1)
    end = t - 1 if end is None else int_in_range("end position", end, start, t - 1)
    cfg = member.model.cfg
    forced = torch.full((cfg.n_layers, t, settings.top_k), -1, dtype=torch.long)
    forced[layers, start : end + 1] = torch.tensor(chosen)
    before, traces_before = token_losses(member, ids, routing, trace=True)
    after, traces_after = token_losses(member, ids, replace(routing, forced=forced), trace=True)
    where = tr("every layer") if layer is None else tr("layer {layer}", layer=layers[0])
    return _report(member, tr("positions {start}-{end} forced to experts {experts} in {where}", start=start, end=end,
                              experts=", ".join(map(str, chosen)), where=where),
                   labels, before, traces_before, after, traces_after)


@torch.no_grad()
def expert_importance(text: str, settings: Settings, mode: str = "reroute",
                      progress: Callable[[float, str], None] | None = None) -> ImportanceReport:
    """Mean loss increase when each expert alone is switched off, for every (layer, expert): L x E
    ablations as batch rows (IMPORTANCE_ROWS_PER_PASS per forward pass), each row with its own mask,
    plus in every pass a row with none (the baseline, computed the same way, so an expert that no token
    uses shows exactly 0)."""
    if mode not in ABLATION_MODES:
        raise InputError(tr("mode must be one of {choices}, got {value!r}", choices=", ".join(ABLATION_MODES), value=mode))
    member, ids, labels, routing = _prepare(text, settings)
    cfg = member.model.cfg
    if mode == "reroute" and cfg.n_experts - 1 < settings.top_k:
        raise InputError(tr("top-K = {k} uses every expert: nothing is left to re-route to; choose 'zero'", k=settings.top_k))
    rows = cfg.n_layers * cfg.n_experts
    masks = torch.eye(rows, dtype=torch.bool).reshape(rows, cfg.n_layers, cfg.n_experts)  # row r: (layer, expert) = divmod(r, E)
    none = torch.zeros(1, cfg.n_layers, cfg.n_experts, dtype=torch.bool)
    increases, base = [], None
    chunks = masks.split(IMPORTANCE_ROWS_PER_PASS)
    resume = resumable_from(member.model, ids, routing)
    for i, chunk in enumerate(chunks):
        if progress:
            progress(i / len(chunks), tr("ablation pass {i} of {n}", i=i + 1, n=len(chunks)))
        first_layer = int(chunk.flatten(1).any(0).nonzero()[0]) // cfg.n_experts  # the lowest MoE layer this pass ablates
        chunk = torch.cat([none, chunk])  # each pass carries its own baseline row, computed the same way
        batch = ids.expand(len(chunk), -1)
        ablated = replace(routing, ablation=chunk, ablation_mode=mode)
        out = resume(batch, ablated, first_layer) if resume else member.model(batch, routing=ablated)
        losses = lm_loss(out.logits[:, :-1], batch[:, 1:], reduction="none")  # (1 + rows, T-1)
        base = losses[:1] if base is None else base
        increases.append(losses[1:] - losses[:1])
    after = base + torch.cat(increases)  # (L*E, T-1)
    before = [None] + base[0].tolist()
    increase = torch.cat(increases).mean(-1).reshape(cfg.n_layers, cfg.n_experts)
    hurt = [[_most_affected(labels, before, [None] + after[l * cfg.n_experts + e].tolist(), n=5)
             for e in range(cfg.n_experts)] for l in range(cfg.n_layers)]
    return ImportanceReport(member.spec.name, mode, labels, float(base.mean()), increase.tolist(), hurt)


def resumable_from(model, ids: torch.Tensor, routing: RoutingOptions) -> Callable | None:
    """For a real model whose rows and layers never interact under these settings (no router noise, no capacity
    limit): one recorded forward over ids (1, T), and a function (batch, routing, layer) -> the batch's output with
    every decoder layer below MoE layer `layer` taken from that forward instead of run again (an ablation there
    changes nothing below it: about half the work of the importance heatmap). None where that does not hold, or where
    every MoE layer is the first decoder layer (nothing to skip)."""
    if (not hasattr(model, "layer_outputs") or max(model.moe_decoder_index, default=0) == 0 or routing.noise_std > 0
            or routing.capacity_factor not in (None, math.inf)):
        return None
    outputs = model.layer_outputs(ids, routing)
    return lambda batch, ablated, layer: model(batch, routing=ablated, resume=(model.moe_decoder_index[layer], outputs))


def sweep_ks(n_experts: int, trained_k: int, every: bool = False) -> list[int]:
    """The K a top-K sweep evaluates: every K up to EVERY_K_UP_TO experts (or when asked), else a spread, the powers of
    two up to E, E itself and the trained K (a 64-expert model: 1, 2, 4, 8, 16, 32, 64 instead of 64 forwards)."""
    if every or n_experts <= EVERY_K_UP_TO:
        return list(range(1, n_experts + 1))
    return sorted({2**i for i in range(n_experts.bit_length()) if 2**i <= n_experts} | {n_experts, trained_k})


def top_k_sweep(text: str, settings: Settings, measure: bool = True, repeats: int = 3,
                progress: Callable[[float, str], None] | None = None, every: bool = False) -> TopKSweep:
    """Loss of the MoE at each K of `sweep_ks` on this text (one forward per K), its active parameters, and
    (measure=True) decode speed per K timed side by side with the dense twins."""
    report = progress or (lambda fraction, desc: None)
    member, ids, _, routing = _prepare(text, settings)
    cfg = member.model.cfg
    twins = {name: get_model(name) for name in settings.twin_names}
    losses = {}
    ks = sweep_ks(cfg.n_experts, cfg.top_k, every)
    for i, k in enumerate(ks):
        report(i / (len(ks) + 1), tr("loss at top-K = {k}", k=k))
        losses[k] = token_losses(member, ids, replace(routing, top_k=k), trace=False)[0]
    dense_losses = {name: token_losses(m, ids, routing, trace=False)[0] for name, m in twins.items()}
    timings, timing = {}, tr("not measured")
    if measure:
        report(len(ks) / (len(ks) + 1), tr("timing decode at every K"))
        models = {f"k={k}": (member.model, replace(routing, top_k=k)) for k in losses}
        models |= {name: (m.model, routing) for name, m in twins.items()}
        latency = measure_latency(models, ids, decode_tokens=16, repeats=repeats)
        timings, timing = latency.models, latency.description
    report(1.0, tr("done"))

    def point(k: int, name: str, model_losses: list, model, top_k: int | None) -> SweepPoint:
        mean = mean_loss(model_losses)
        decode = timings[name].decode_tokens_per_s if name in timings else None
        return SweepPoint(k, mean, math.exp(mean) if mean is not None else None, count_arch(model.arch, top_k).active.total,
                          *((decode.median, decode.low, decode.high) if decode else (None, None, None)))

    return TopKSweep(member.spec.name, cfg.top_k, ids.shape[1],
                     [point(k, f"k={k}", losses[k], member.model, k) for k in losses],
                     {name: point(1, name, dense_losses[name], m.model, None) for name, m in twins.items()}, timing)
