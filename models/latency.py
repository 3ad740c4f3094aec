"""Wall-clock latency of models on the same input, measured side by side.

What is timed, per model and repetition:
- prefill: one forward pass over the prompt (B=1, no KV cache kept), in milliseconds;
- decode: `decode_tokens` greedy steps of one token each with the KV cache, after an untimed
  prefill, reported as tokens per second.
Warm-up repetitions run first and are discarded; then the models take turns within every
repetition (the order rotates), so a slow moment of the machine hits all of them alike. Medians
are reported with the min-max spread. Nothing here is estimated.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch

from models.transformer import Transformer
from routing.options import RoutingOptions


@dataclass(frozen=True)
class Timing:
    median: float
    low: float  # min over repetitions
    high: float  # max over repetitions
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: list[float]) -> "Timing":
        return cls(statistics.median(samples), min(samples), max(samples), tuple(samples))


@dataclass(frozen=True)
class ModelLatency:
    prefill_ms: Timing
    decode_tokens_per_s: Timing


@dataclass(frozen=True)
class LatencyReport:
    models: dict[str, ModelLatency]
    prompt_tokens: int
    decode_tokens: int
    repeats: int
    warmup: int
    threads: int
    device: str
    description: str

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def _prefill_seconds(model: Transformer, ids: torch.Tensor, routing: RoutingOptions) -> float:
    start = time.perf_counter()
    model(ids, routing=routing)
    return time.perf_counter() - start


@torch.no_grad()
def _decode_seconds(model: Transformer, ids: torch.Tensor, routing: RoutingOptions, steps: int) -> float:
    cache = model.new_cache(1, ids.shape[1] + steps)
    nxt = model(ids, routing=routing, cache=cache).logits[:, -1:].argmax(-1)  # (1, 1), untimed prefill
    start = time.perf_counter()
    for _ in range(steps):
        nxt = model(nxt, routing=routing, cache=cache).logits[:, -1:].argmax(-1)
    return time.perf_counter() - start


def measure_latency(
    models: dict[str, tuple[Transformer, RoutingOptions]],
    ids: torch.Tensor,
    decode_tokens: int = 16,
    repeats: int = 5,
    warmup: int = 1,
) -> LatencyReport:
    """ids (1, T). Each model runs with its own routing options (dense models ignore them)."""
    context = min(m.cfg.context_length for m, _ in models.values())
    decode_tokens = max(1, min(decode_tokens, context - 1))
    prompt = ids[:, : context - decode_tokens]
    names = list(models)
    prefill: dict[str, list[float]] = {n: [] for n in names}
    decode: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(warmup + repeats):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            model, routing = models[name]
            p = _prefill_seconds(model, prompt, routing)
            d = _decode_seconds(model, prompt, routing, decode_tokens)
            if rep >= warmup:
                prefill[name].append(p * 1000)
                decode[name].append(decode_tokens / d)
    threads = torch.get_num_threads()
    return LatencyReport(
        models={n: ModelLatency(Timing.of(prefill[n]), Timing.of(decode[n])) for n in names},
        prompt_tokens=prompt.shape[1],
        decode_tokens=decode_tokens,
        repeats=repeats,
        warmup=warmup,
        threads=threads,
        device="cpu" if ids.device.type == "cpu" else str(ids.device),
        description=(
            f"prefill: one forward pass over {prompt.shape[1]} tokens (batch 1); decode: {decode_tokens} greedy "
            f"one-token steps with the KV cache after the prefill. {warmup} warm-up + {repeats} interleaved "
            f"repetitions, median with min-max; {threads} CPU threads."
        ),
    )
