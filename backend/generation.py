"""Each model continues the text: greedy, or sampled with a seed the page shows, with the MoE's expert
for every generated token and the speed each model generated at, measured while it generated.

The MoE and its twins run one after another on the same prompt (the analysed text's tokens, the last
ones kept when the continuation would not fit in the context), each with its own KV cache
(models/generate.py). The MoE's routing of the generated tokens comes from one forward pass over prompt +
continuation with the same routing options: the model is causal, so each token's experts there are the
ones it was generated with.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from backend.analysis import InputError, Settings, tokenize
from backend.real_models import get_model
from corpus.tokenizer import token_labels
from errors import int_in_range
from models.generate import generate

MAX_NEW_TOKENS = 64
MAX_TEMPERATURE = 2.0


@dataclass(frozen=True)
class Continuation:
    model: str
    is_moe: bool
    tokens: list[str]  # readable labels of the generated tokens
    token_ids: list[int]
    seconds: float  # the whole generate call: the prompt's prefill and every decode step
    tokens_per_s: float  # generated tokens / seconds
    experts: list[list[int]] | None  # MoE only: (L, generated) first-choice expert of each generated token


@dataclass(frozen=True)
class GenerationReport:
    prompt_tokens: int
    prompt_cut: bool  # the prompt lost its first tokens to fit the continuation into the context
    max_new_tokens: int
    temperature: float  # 0 = greedy
    top_p: float
    seed: int
    continuations: list[Continuation]  # the MoE first, then its twins

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def continue_text(text: str, settings: Settings, max_new_tokens: int = 32, temperature: float = 0.0, seed: int = 0,
                  top_p: float = 0.95) -> GenerationReport:
    max_new_tokens = int_in_range("new tokens", max_new_tokens, 1, MAX_NEW_TOKENS)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= MAX_TEMPERATURE:
        raise InputError(f"temperature must be between 0 (greedy) and {MAX_TEMPERATURE}, got {temperature!r}")
    seed = int_in_range("seed", seed, 0, 2**31 - 1)
    moe = get_model(settings.moe_name)
    ids, _, _ = tokenize(text, moe)
    room = moe.model.cfg.context_length - max_new_tokens
    prompt = torch.tensor([ids[-room:]])  # (1, T)
    routing = settings.routing()
    continuations = []
    for name in [settings.moe_name, *settings.twin_names]:
        member = get_model(name)
        start = time.perf_counter()
        out = generate(member.model, prompt, max_new_tokens, temperature, top_p, seed, routing)  # (1, T + new)
        seconds = time.perf_counter() - start
        new = out[0, prompt.shape[1]:].tolist()
        experts = None
        if member.model.cfg.is_moe:
            traces = member.model(out, routing=routing, trace=True).traces
            experts = [trace.expert_idx[0, prompt.shape[1]:, 0].tolist() for trace in traces]
        labels = token_labels(member.tokenizer, out[0].tolist())[prompt.shape[1]:]  # characters split over the seam stay whole
        continuations.append(Continuation(name, member.model.cfg.is_moe, labels, new, seconds, len(new) / seconds, experts))
    return GenerationReport(prompt.shape[1], len(ids) > room, max_new_tokens, float(temperature), top_p, seed, continuations)
