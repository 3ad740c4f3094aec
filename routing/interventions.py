"""Interventions on routing, passed per call inside `RoutingOptions`: ablate experts, force experts.

Shapes: B batch, T tokens, N = B*T, L MoE layers, E experts, K experts per token.

- Ablation (`ablation`, bool (L, E) for every row or (B, L, E) per batch row, True = switched off):
  - "reroute": an ablated expert cannot be chosen; a token that would have chosen it takes its next-best
    expert (llama.cpp's `--omit-experts`). The router's distribution is unchanged (softmax over all E);
    only the choice skips the ablated experts, and the gates are that distribution at the kept choices
    (renormalised when the router renormalises).
  - "zero": the routing is unchanged, and an ablated expert's output is dropped (it adds nothing; the
    token keeps its other experts' outputs with their original gates).
- Forcing (`forced`, long (L, T, K) or (B, L, T, K); -1 = not forced): a forced (layer, position) uses
  exactly the given K experts, with gates taken from the router's distribution as for any choice.
Masks are built by the caller (backend/interventions.py) from user-facing (layer, expert) lists.
"""
from __future__ import annotations

import torch

ABLATION_MODES = ("reroute", "zero")


def layer_rows(mask: torch.Tensor | None, layer: int, batch: int, tokens: int,
               device: torch.device | None = None) -> torch.Tensor | None:
    """An (L, E) or (B, L, E) ablation mask -> this layer's (N, E) rows on `device` (None when nothing is ablated)."""
    if mask is None:
        return None
    rows = mask[layer] if mask.dim() == 2 else mask[:, layer]  # (E,) or (B, E)
    rows = rows.expand(batch, -1) if rows.dim() == 1 else rows
    if rows.shape[0] != batch:
        raise ValueError(f"ablation has {rows.shape[0]} batch rows, the input {batch}")
    return rows.repeat_interleave(tokens, dim=0).to(device)  # (N, E)


def forced_rows(forced: torch.Tensor | None, layer: int, batch: int, tokens: int,
                device: torch.device | None = None) -> torch.Tensor | None:
    """An (L, T, K) or (B, L, T, K) forcing tensor -> this layer's (N, K) rows on `device`, -1 where not forced."""
    if forced is None:
        return None
    rows = forced[layer] if forced.dim() == 3 else forced[:, layer]  # (T, K) or (B, T, K)
    if rows.shape[-2] != tokens:
        raise ValueError(f"forced covers {rows.shape[-2]} positions, the input has {tokens}")
    rows = rows.expand(batch, -1, -1) if rows.dim() == 2 else rows
    return rows.reshape(batch * tokens, -1).to(device)  # (N, K)


def check_masks(ablation: torch.Tensor | None, forced: torch.Tensor | None, n_layers: int, n_experts: int,
                top_k: int) -> None:
    """Shapes and expert ids of the masks against one model's MoE layers; ValueError naming the field."""
    if ablation is not None and (ablation.dtype != torch.bool or ablation.shape[-2:] != (n_layers, n_experts)):
        raise ValueError(f"ablation must be a bool mask of shape (layers={n_layers}, experts={n_experts}), "
                         f"optionally with a batch dimension first; got {tuple(ablation.shape)} {ablation.dtype}")
    if forced is not None:
        if forced.dtype != torch.long or forced.dim() not in (3, 4) or forced.shape[-3] != n_layers or forced.shape[-1] != top_k:
            raise ValueError(f"forced must be a long tensor of shape (layers={n_layers}, tokens, top_k={top_k}); "
                             f"got {tuple(forced.shape)} {forced.dtype}")
        chosen = forced[forced >= 0]
        if ((forced < -1).any() or (chosen >= n_experts).any()):
            raise ValueError(f"forced experts must be between 0 and {n_experts - 1} (-1 = not forced)")
        rows = forced.reshape(-1, top_k)
        partial = (rows >= 0).any(-1) & (rows < 0).any(-1)
        if partial.any():
            raise ValueError("a forced position must name all of its top_k experts")
        full = rows[(rows >= 0).all(-1)]
        if full.numel() and (full.sort(-1).values.diff(dim=-1) == 0).any():
            raise ValueError("a forced position must name top_k different experts")
