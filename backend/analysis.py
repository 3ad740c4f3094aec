"""The shared backend: analyse a text with an MoE and its dense twins.

`analyze_text` tokenizes the text, runs the chosen MoE (a zoo member, or a real checkpoint the operator
loaded: backend/real_models.py) with the caller's top-k, capacity factor and router noise, passed per
call, and its dense twins (the zoo's two, or a loaded dense model), and returns an `AnalysisReport`: tokens, routing
of every MoE layer (chosen experts, gate weights, full router distribution, dropped slots, expert
load), per-token loss of every model, and parameter/FLOP accounting. `measure_report_latency`
adds measured latency. No Gradio here; the page, the API, the benchmarks and the tests all call this.

Shapes: T tokens, E experts, K experts per token.
"""
from __future__ import annotations

import copy
import functools
import json
import math
from dataclasses import dataclass, field, fields, is_dataclass, replace

import torch

from backend.real_models import get_model, real_model_names
from backend.timing import TIMING_DTYPES, LatencyReport, measure_latency, native_dtypes
from backend.uncertainty import Difference, Interval, mean_interval, paired_difference, perplexity_interval
from corpus.manifest import unseen_characters
from corpus.tokenizer import token_label, token_labels
from errors import UserError
from models.params import arch_flops, count_arch
from models.transformer import Transformer, lm_loss
from models.zoo import SPECS, LoadedModel, load_member
from routing.options import RoutingOptions, check_top_k
from text import tr

EXPERT_CHOICES = (4, 8, 16, 32)
COMPUTE_MATCHED, PARAM_MATCHED = "dense", "dense-wide"
MAX_NOISE_STD = 10.0
MAX_INPUT_CHARS = 2_000_000  # longer input is refused; the models only read the first tokens anyway
TOKENIZE_CHARS = 65_536  # a prefix this long always holds more than a context's worth of tokens


class InputError(UserError):
    """A bad text or setting; the message names the field."""


@dataclass(frozen=True)
class Settings:
    n_experts: int = 8  # experts of the chosen MoE (the zoo member moe-<n_experts> unless `model` is set)
    top_k: int = 2
    capacity_factor: float | None = None  # None = no capacity limit
    noise_std: float = 0.0
    noise_seed: int = 0
    model: str | None = None  # a loaded real MoE; None = the zoo's moe-<n_experts>
    dense_model: str | None = None  # a loaded dense twin; None = the zoo's two twins with a zoo MoE, none with a real one

    @property
    def moe_name(self) -> str:
        return self.model or f"moe-{self.n_experts}"

    @property
    def twin_names(self) -> list[str]:
        """The dense twins shown beside the MoE: the first one left of it, the others right of it."""
        if self.dense_model:
            return [self.dense_model]
        return [COMPUTE_MATCHED, PARAM_MATCHED] if self.model is None else []

    def routing(self) -> RoutingOptions:
        return RoutingOptions(
            top_k=self.top_k,
            capacity_factor=math.inf if self.capacity_factor is None else self.capacity_factor,
            noise_std=self.noise_std,
            noise_seed=self.noise_seed,
        )


def validate_settings(n_experts, top_k, capacity_factor, noise_std, noise_seed, model=None, dense_model=None) -> Settings:
    """Check values that may come from an API call; raise InputError naming the bad one. With `model` (a
    loaded real MoE) n_experts is that model's and top-K is checked against it."""

    def number(name, value, kind=float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise InputError(tr("{name} must be an integer, got {value!r}" if kind is int else "{name} must be a number, got {value!r}",
                                name=tr(name), value=value))
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(tr("{name} must be finite, got {value!r}", name=tr(name), value=value))
        return kind(value)

    model, dense_model = (None if not m else m for m in (model, dense_model))
    if model is not None:
        if model not in real_model_names(moe=True):
            raise InputError(tr("model must be a loaded MoE model, got {value!r}; loaded: {loaded}", value=model,
                                loaded=", ".join(real_model_names(moe=True)) or tr("none")))
        n_experts = get_model(model).model.cfg.n_experts
    else:
        n_experts = number("number of experts", n_experts, int)
        if n_experts not in EXPERT_CHOICES:
            raise InputError(tr("number of experts must be one of {choices}, got {value}",
                                choices=", ".join(map(str, EXPERT_CHOICES)), value=n_experts))
    if dense_model is not None and dense_model not in real_model_names(moe=False):
        raise InputError(tr("dense_model must be a loaded dense model, got {value!r}; loaded: {loaded}", value=dense_model,
                            loaded=", ".join(real_model_names(moe=False)) or tr("none")))
    top_k = check_top_k(number("top-K", top_k, int), n_experts, "top-K", InputError)
    if capacity_factor is not None:
        capacity_factor = number("capacity factor", capacity_factor)
        if capacity_factor < 0:
            raise InputError(tr("capacity factor must be positive (or 0 for no limit), got {value}", value=capacity_factor))
        capacity_factor = capacity_factor or None
    noise_std = number("router noise", noise_std)
    if not 0 <= noise_std <= MAX_NOISE_STD:
        raise InputError(tr("router noise must be between 0 and {high}, got {value}", high=MAX_NOISE_STD, value=noise_std))
    noise_seed = number("noise seed", noise_seed, int)
    if not 0 <= noise_seed < 2**63:
        raise InputError(tr("noise seed must be between 0 and 2^63 - 1, got {value}", value=noise_seed))
    return Settings(n_experts, top_k, capacity_factor, noise_std, noise_seed, model, dense_model)


@dataclass(frozen=True)
class ModelSummary:
    name: str
    role: str
    total_params: int
    active_params: int  # per token, embedding and head included
    total_breakdown: dict[str, int]
    active_breakdown: dict[str, int]
    flops_per_token: int  # forward, at this text's length
    token_losses: list[float | None]  # (T,) nats; None for the first token (nothing predicts it)
    mean_loss: float | None
    perplexity: float | None
    loss_interval: Interval | None  # 95% bootstrap interval of mean_loss over this text's tokens
    perplexity_interval: Interval | None
    next_token_ids: list[list[int]] = field(default_factory=list)  # (T, PREDICTIONS) most likely next tokens after each
    next_token_probs: list[list[float]] = field(default_factory=list)  # (T, PREDICTIONS) their probabilities


@dataclass(frozen=True)
class LayerRouting:
    layer: int
    expert_idx: list[list[int]]  # (T, K) best first
    gate_weights: list[list[float]]  # (T, K)
    probs: list[list[float]]  # (T, E)
    dropped: list[list[bool]]  # (T, K)
    load: list[int]  # (E,) kept assignments per expert in this text
    capacity: float | None  # assignments per expert allowed (None = unlimited)


@dataclass(frozen=True)
class AnalysisReport:
    settings: Settings
    tokens: list[str]  # readable token labels
    token_ids: list[int]
    input_tokens: int  # tokens in the submitted text (before truncation, at least this many)
    notices: list[str]
    models: list[ModelSummary]  # the first dense twin (if any), the MoE, the other twins
    routing: list[LayerRouting]
    differences: list[Difference]  # the MoE against each dense twin on these tokens (paired bootstrap)
    latency: LatencyReport | None = field(default=None)

    @property
    def moe(self) -> ModelSummary:
        return next(m for m in self.models if m.name == self.settings.moe_name)

    def to_dict(self) -> dict:
        return plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def plain(value):
    """Dataclasses as dicts, recursively: what `dataclasses.asdict` gives, without deep-copying the (nested) lists of
    numbers and strings, which are shared as they are (a report is frozen; it is re-serialised on every analysis)."""
    if is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and (is_dataclass(value[0]) or isinstance(value[0], dict)):
        return [plain(v) for v in value]
    return value


def tokenize(text: str, member: LoadedModel) -> tuple[list[int], int, list[str]]:
    """-> ids (at most the context), number of input tokens seen, notices."""
    if not isinstance(text, str):
        raise InputError(tr("text must be a string, got {kind}", kind=type(text).__name__))
    if len(text) > MAX_INPUT_CHARS:
        raise InputError(tr("the text has {n:,} characters; the limit is {limit:,}", n=len(text), limit=MAX_INPUT_CHARS))
    notices = []
    clean = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be encoded
    if clean != text:
        notices.append(tr("Characters that are not valid Unicode (lone surrogates) were replaced by '?'."))
    if not clean.strip():
        raise InputError(tr("Paste some text to analyse: the text is empty or only whitespace."))
    unseen = unseen_characters(clean[:TOKENIZE_CHARS]) if member.spec.name in SPECS else []  # the zoo's training text
    if unseen:
        vocab = member.tokenizer.get_vocab_size()
        notices.append(tr(
            "{n} character(s) of this text never occur in the training text ({chars}): the models never learned to predict "
            "them, so their tokens get a very high loss. A uniform guess over the {vocab:,} tokens scores {uniform:.1f} nats "
            "(perplexity {vocab:,}); a model that confidently expects something else scores worse, so a perplexity in the "
            "tens of thousands here is expected, not a fault.", n=len(unseen),
            chars=" ".join(unseen[:12]) + (" …" if len(unseen) > 12 else ""), vocab=vocab, uniform=math.log(vocab)))
    ids = member.tokenizer.encode(clean[:TOKENIZE_CHARS]).ids
    context = member.model.cfg.context_length
    if len(ids) > context:
        more = "+" if len(clean) > TOKENIZE_CHARS else ""
        notices.append(tr("The text has {n:,}{more} tokens; only the first {context} are analysed (the models' context "
                          "length). The rest is ignored.", n=len(ids), more=more, context=context))
    return ids[:context], len(ids), notices


@dataclass(frozen=True)
class TokenRead:
    """What one forward over a text gives: per-token losses [None, (T-1) floats] (nothing predicts the first token),
    the routing traces, and after each position the `top` most likely next tokens (T, top) with probabilities."""
    losses: list[float | None]
    traces: tuple
    next_ids: list[list[int]]
    next_probs: list[list[float]]


@torch.no_grad()
def read_tokens(member: LoadedModel, ids: torch.Tensor, routing: RoutingOptions, trace: bool, top: int = 0) -> TokenRead:
    """ids (1, T) -> one forward's TokenRead."""
    out = member.model(ids, routing=routing, trace=trace)
    losses: list[float | None] = [None]
    if ids.shape[1] > 1:
        losses += lm_loss(out.logits[:, :-1], ids[:, 1:], reduction="none")[0].tolist()
    best = torch.softmax(out.logits[0].float(), -1).topk(top) if top else None  # (T, top)
    return TokenRead(losses, out.traces, best.indices.tolist() if top else [], best.values.tolist() if top else [])


def token_losses(member: LoadedModel, ids: torch.Tensor, routing: RoutingOptions, trace: bool):
    """ids (1, T) -> per-token losses [None, (T-1) floats], traces."""
    read = read_tokens(member, ids, routing, trace)
    return read.losses, read.traces


def _summary(member: LoadedModel, role: str, read: TokenRead, top_k: int | None, t: int) -> ModelSummary:
    cfg, arch, losses = member.model.cfg, member.model.arch, read.losses
    report = count_arch(arch, top_k if cfg.is_moe else None)
    mean = mean_loss(losses)
    interval = mean_interval(scored_losses(losses))
    return ModelSummary(
        name=member.spec.name,
        role=role,
        total_params=report.total.total,
        active_params=report.active.total,
        total_breakdown=report.total.as_dict(),
        active_breakdown=report.active.as_dict(),
        flops_per_token=arch_flops(arch, t, top_k if cfg.is_moe else None),
        token_losses=losses,
        mean_loss=mean,
        perplexity=math.exp(mean) if mean is not None else None,
        loss_interval=interval,
        perplexity_interval=perplexity_interval(interval),
        next_token_ids=read.next_ids,
        next_token_probs=read.next_probs,
    )


def float32_digits(values: torch.Tensor) -> list:
    """A float32 tensor as nested lists of floats with 7 significant digits, about float32's precision (relative error
    at most 5e-7): the double repr of a float32 carries ~10 more digits, which nearly doubled the report's JSON (an
    OLMoE-1B-7B analysis of 256 tokens holds 262k router probabilities: 5.7 MB of JSON, ~0.85 s for Gradio to serve)."""
    wide = values.double()
    exponent = torch.floor(torch.log10(wide.abs())).nan_to_num(0.0, 0.0, 0.0)  # zeros: log10 is -inf
    scale = torch.pow(10.0, 6 - exponent)
    return (torch.round(wide * scale) / scale).tolist()


def _layer_routing(trace) -> LayerRouting:
    return LayerRouting(
        layer=trace.layer,
        expert_idx=trace.expert_idx[0].tolist(),
        gate_weights=float32_digits(trace.gate_weights[0]),
        probs=float32_digits(trace.probs[0]),
        dropped=trace.dropped[0].tolist(),
        load=trace.expert_counts().tolist(),
        capacity=None if math.isinf(trace.capacity) else trace.capacity,
    )


PREDICTIONS = 5  # most likely next tokens kept after each position (the pinned token's table)
TWIN_ROLES = {COMPUTE_MATCHED: "dense, compute-matched", PARAM_MATCHED: "dense, parameter-matched to moe-8"}


def check_same_tokens(ids: list[int], text: str, moe: LoadedModel, twin: LoadedModel) -> None:
    """A twin must read the same tokens as the MoE, or per-token losses would not compare."""
    clean = text.encode("utf-8", "replace").decode("utf-8")
    if twin.tokenizer is not moe.tokenizer and twin.tokenizer.encode(clean[:TOKENIZE_CHARS]).ids[: len(ids)] != ids:
        raise InputError(tr("dense_model: '{twin}' splits this text into other tokens than '{moe}'; choose a dense model "
                            "with the same tokenizer", twin=twin.spec.name, moe=moe.spec.name))


def analyze_text(text: str, settings: Settings) -> AnalysisReport:
    moe = get_model(settings.moe_name)
    twins = {name: get_model(name) for name in settings.twin_names}
    ids, input_tokens, notices = tokenize(text, moe)
    for twin in twins.values():
        check_same_tokens(ids, text, moe, twin)
    x = torch.tensor([ids])  # (1, T)
    routing = settings.routing()
    moe_read = read_tokens(moe, x, routing, True, PREDICTIONS)  # the one forward of each model in an analysis
    traces, t = moe_read.traces, len(ids)
    dense = [_summary(m, tr(TWIN_ROLES.get(name, "dense twin")), read_tokens(m, x, routing, False, PREDICTIONS), None, t)
             for name, m in twins.items()]
    moe_summary = _summary(moe, tr("MoE, {n} experts, top-{k}", n=settings.n_experts, k=settings.top_k), moe_read,
                           settings.top_k, t)
    summaries = dense[:1] + [moe_summary] + dense[1:]
    if t == 1:
        notices.append(tr("The text is a single token: there is nothing to predict, so no loss is shown."))
    return AnalysisReport(
        settings=settings,
        tokens=token_labels(moe.tokenizer, ids),
        token_ids=ids,
        input_tokens=input_tokens,
        notices=notices,
        models=summaries,
        routing=[_layer_routing(trace) for trace in traces],
        differences=[d for d in (paired_difference(moe_summary.name, scored_losses(moe_summary.token_losses), twin.name,
                                                   scored_losses(twin.token_losses))
                                 for twin in dense) if d is not None],
    )


def scored_losses(losses: list[float | None]) -> list[float]:
    """The losses of the tokens that were predicted (the first token of a text is not)."""
    return [x for x in losses if x is not None]


def mean_loss(losses: list[float | None]) -> float | None:
    """Mean loss over the predicted tokens; None when there are none."""
    scored = scored_losses(losses)
    return sum(scored) / len(scored) if scored else None


@torch.no_grad()
def next_token_predictions(report: AnalysisReport, position: int, k: int = PREDICTIONS) -> dict[str, list[tuple[str, float]]]:
    """Each model's k most likely next tokens after `position` of the report's text, with probabilities, as the
    analysis's forward computed them (no forward here)."""
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < len(report.token_ids):
        raise InputError(tr("token position must be between 0 and {high}, got {value!r}", high=len(report.token_ids) - 1,
                            value=position))
    return {m.name: [(token_label(get_model(m.name).tokenizer, i), p)
                     for i, p in zip(m.next_token_ids[position][:k], m.next_token_probs[position][:k])] for m in report.models}


@functools.lru_cache(maxsize=None)
def _zoo_member_in(name: str, dtype: str) -> Transformer:
    """A zoo member's weights in another dtype, for timing: a copy made once per process."""
    return copy.deepcopy(load_member(name).model).to(TIMING_DTYPES[dtype])


def timed_model(name: str, dtype: str):
    """The model to time in `dtype`: a zoo member (a copy in that dtype), or a loaded real model in the dtype
    it was loaded in (a second copy of a real checkpoint would not fit in memory)."""
    member = get_model(name)
    if dtype == "float32" or not isinstance(member.model, Transformer):
        return member.model
    return _zoo_member_in(name, dtype)


def measure_report_latency(report: AnalysisReport, repeats: int = 5, decode_tokens: int = 16,
                           dtype: str = "float32") -> AnalysisReport:
    """The same report with the latency of its models measured on its tokens, the zoo's weights and
    activations in `dtype` (bfloat16 where the CPU has bf16 instructions)."""
    if dtype not in native_dtypes():
        raise InputError(tr("timing dtype must be one of {choices} on this machine, got {value!r}",
                            choices=", ".join(native_dtypes()), value=dtype))
    routing = report.settings.routing()
    models = {m.name: (timed_model(m.name, dtype), routing) for m in report.models}
    latency = measure_latency(models, torch.tensor([report.token_ids]), decode_tokens=decode_tokens, repeats=repeats)
    dtypes = sorted({str(next(model.parameters()).dtype).removeprefix("torch.") for model, _ in models.values()})
    return replace(report, latency=replace(latency, description=latency.description + tr(" Weights and activations in {dtypes}.", dtypes=", ".join(dtypes))))
