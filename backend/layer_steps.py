"""One MoE layer's computation for one token, step by step, with its numbers (the pinned token's view):
router logits for every expert -> (+ noise) -> scores (softmax or sigmoid) -> selection (+ the selection-only
bias, the kept groups, the top-K) -> gates (renormalised, scaled) -> each chosen expert's contribution (and the
shared expert's) -> their sum, added to the residual stream.

Everything is recomputed from the model itself under the report's routing settings: the layer's input is read
during one forward over the report's tokens (models/capture.py: this request's call only), the
decision is the layer's own (noise included), and each contribution is the layer's experts run on that one row.
Works for the zoo and for every real MoE family (models/hf_routed.py); the rule comes from routing/rules.rule_of.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch

from backend.analysis import AnalysisReport, InputError
from backend.real_models import get_model
from errors import int_in_range
from models.capture import captured_inputs
from routing.rules import RoutingRule, rule_of
from text import tr


@dataclass(frozen=True)
class ExpertStep:
    expert: int
    logit: float  # the router's logit, noise included
    noise: float  # the noise added to it (0 without router noise)
    score: float  # softmax probability or sigmoid score
    selection: float  # what the top-K ranks: the score plus the selection-only bias
    eligible: bool  # in a kept group (always, without groups)
    rank: int | None  # 0 = first choice; None = not chosen
    gate: float | None  # its gate weight, if chosen


@dataclass(frozen=True)
class Contribution:
    expert: int
    gate: float
    norm: float  # |gate x expert(x)| (or |expert(gate x x)| where the gate scales the input)


@dataclass(frozen=True)
class LayerSteps:
    model: str
    layer: int
    position: int
    token: str
    rule: dict  # the RoutingRule's fields
    top_k: int
    gate_input: bool  # the gate scales the expert's input (Llama 4), not its output
    input_norm: float  # |x|, the normalised hidden state the layer reads
    experts: list[ExpertStep]
    raw_gates: list[float]  # the chosen experts' scores, best first, before renormalising and scaling
    contributions: list[Contribution]
    shared_norm: float | None  # the shared expert's (gated) contribution, None without one
    output_norm: float  # |the layer's output|: routed contributions plus the shared expert

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def layer_steps(report: AnalysisReport, position: object, layer: object) -> LayerSteps:
    """The step-by-step computation of MoE layer `layer` for token `position` of the report's text."""
    position = int_in_range("token position", position, 0, len(report.token_ids) - 1)
    layer = int_in_range("layer", layer, 0, len(report.routing) - 1)
    model = get_model(report.settings.moe_name).model
    moe = model.moe_layers()[layer]
    out, inputs = captured_inputs(moe, lambda: model(torch.tensor([report.token_ids]), routing=report.settings.routing()))
    if not inputs:
        raise InputError(tr("layer {layer} did not run on this text", layer=layer))
    x = inputs[0].reshape(-1, inputs[0].shape[-1])[position]  # (D,)
    block = model.blocks[layer]
    # an offloaded real model's router and experts, brought in while no other call runs it
    with getattr(model, "serial", contextlib.nullcontext()), getattr(block, "weights_ready", contextlib.nullcontext)():
        decision, router = out.moe[layer].decision, moe.router
        rule: RoutingRule = rule_of(router)
        scores = (decision.scores if decision.scores is not None else decision.probs)[position].float()  # (E,)
        logits = decision.logits[position].float()
        noise = (logits - router.product(x[None])[0].float() if report.settings.routing().noise_std > 0
                 else torch.zeros_like(logits))  # without noise the difference is float rounding only
        bias = router.selection_bias
        selection = scores if bias is None else scores + bias.float().reshape(-1)
        chosen, gates = decision.expert_idx[position].tolist(), decision.gate_weights[position].float()
        eligible = (router.kept_groups(selection[None], len(chosen))[0] if rule.groups > 1
                    else torch.ones_like(selection, dtype=torch.bool))
        experts = [ExpertStep(e, float(logits[e]), float(noise[e]), float(scores[e]), float(selection[e]), bool(eligible[e]),
                              chosen.index(e) if e in chosen else None, float(gates[chosen.index(e)]) if e in chosen else None)
                   for e in range(len(scores))]
        parts = [moe.experts(x[None], decision.expert_idx[position: position + 1, j: j + 1],
                             decision.gate_weights[position: position + 1, j: j + 1], None, "auto")[0] for j in range(len(chosen))]
        shared = getattr(block, "shared", None)
        shared_out = None
        if shared is not None:
            shared_out = shared(x[None])[0]
            if block.shared_gate is not None:
                shared_out = torch.sigmoid(block.shared_gate(x[None]))[0] * shared_out
        total = sum(parts, torch.zeros_like(x)) + (shared_out if shared_out is not None else 0)
    return LayerSteps(report.settings.moe_name, layer, position, report.tokens[position], asdict(rule), len(chosen),
                      bool(getattr(moe.experts, "gate_input", False)), float(x.float().norm()), experts,
                      [float(scores[e]) for e in chosen],
                      [Contribution(e, float(gates[j]), float(parts[j].float().norm())) for j, e in enumerate(chosen)],
                      None if shared_out is None else float(shared_out.float().norm()), float(total.float().norm()))
