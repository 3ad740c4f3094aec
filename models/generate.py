"""Text generation with the KV cache: greedy, or temperature + top-p (nucleus) sampling, seeded.

Shapes: B batch, T tokens, V vocabulary.
"""
from __future__ import annotations

import torch

from models.transformer import DEFAULT_ROUTING, Transformer
from routing.options import RoutingOptions


def sample_next(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """logits (B, V) -> (B,) next ids. temperature 0 = greedy."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, sorted_ids = probs.sort(dim=-1, descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p  # keep the smallest prefix with mass >= top_p
    sorted_probs = sorted_probs.masked_fill(outside, 0.0)
    choice = torch.multinomial(sorted_probs, 1, generator=generator)  # (B, 1)
    return sorted_ids.gather(-1, choice).squeeze(-1)


@torch.no_grad()
def generate(
    model: Transformer,
    prompt: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    routing: RoutingOptions = DEFAULT_ROUTING,
) -> torch.Tensor:
    """prompt (B, T) -> (B, T + max_new_tokens), stopping early at the model context."""
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
    b, t = prompt.shape
    total = min(t + max_new_tokens, model.cfg.context_length)
    cache = model.new_cache(b, total)
    generator = None if seed is None else torch.Generator(device=prompt.device).manual_seed(seed)
    out = prompt
    logits = model(prompt, routing=routing, cache=cache).logits[:, -1]
    while out.shape[1] < total:
        nxt = sample_next(logits, temperature, top_p, generator).unsqueeze(1)  # (B, 1)
        out = torch.cat([out, nxt], dim=1)
        if out.shape[1] == total:
            break
        logits = model(nxt, routing=routing, cache=cache).logits[:, -1]
    return out
