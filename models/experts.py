"""SwiGLU FFN weights, dense and fused-expert, and the dispatch backends that run the experts.

Shapes: N tokens, D model width, F FFN/expert width, E experts, K experts per token,
A kept (token, expert) assignments (A <= N*K).

Weights use nn.Linear's (out, in) layout, as transformers' Mixtral does: w_gate, w_up (F, D) and w_down
(D, F), stacked over experts as (E, F, D) / (E, D, F). `linear` picks the product's orientation by the
number of rows (see there). The backends compute exactly the same function, sum over a token's kept
assignments of weight * expert(x), and differ only in how:
- loop:    a readable per-expert loop over a boolean mask (the reference);
- sorted:  assignments sorted by expert once, then one matmul per expert that has tokens, on views of
           its weights: only the chosen experts' weights are read and nothing is copied. A single token
           (batch-1 decoding) skips the sort and runs its K experts directly;
- grouped: the same sort, then one `torch.nn.functional.grouped_mm` per weight matrix (one kernel for
           all experts) where the running torch supports it for this device/dtype/shape, else `sorted`.
"auto" takes `grouped` where grouped_mm runs on an accelerator, `sorted` elsewhere (on CPU grouped_mm
loops over the experts itself, empty ones included).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

BACKENDS = ("loop", "sorted", "grouped")
WEIGHT_STATIONARY_MAX_ROWS = 128


def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x (M, D), w (F, D) contiguous -> x w^T (M, F), computed the way that runs fastest for M rows.

    Few rows make the product bound by reading w. On this project's CPU (MKL on AMD EPYC, caches flushed;
    the `orientation` table in benchmarks/results/latency.md times one expert's work each way):
    - one row: MKL's matrix-vector product runs on one thread and streams w at about half the machine's
      bandwidth, so w's rows are split into blocks and one batched product spreads them over the threads;
    - up to WEIGHT_STATIONARY_MAX_ROWS rows: the weight-stationary form (w x^T)^T, faster than x w^T;
    - more rows: x w^T (F.linear), whose row-major result is also cheaper for the rows that read it next.
    The result may be a transposed view; elementwise ops keep that layout, so the next product gets a
    contiguous operand."""
    rows = x.shape[0]
    if rows == 1:
        blocks = math.gcd(w.shape[0], 2 * torch.get_num_threads())
        return torch.bmm(w.view(blocks, -1, w.shape[1]), x.t().expand(blocks, -1, -1)).reshape(1, -1)
    if rows <= WEIGHT_STATIONARY_MAX_ROWS:
        return (w @ x.t()).t()
    return F.linear(x, w)


def swiglu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor,
           product: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = linear) -> torch.Tensor:
    """x (M, D) with w_gate, w_up (F, D) and w_down (D, F) -> (M, D). product(x, w) computes x w^T (the
    latency lab swaps it to compare orientations)."""
    return product(F.silu(product(x, w_gate)) * product(x, w_up), w_down)


def _init_(tensor: torch.Tensor, fan_in: int) -> None:
    nn.init.normal_(tensor, std=1.0 / math.sqrt(fan_in))


class DenseFFN(nn.Module):
    """SwiGLU FFN with the same weight layout as one expert, so an MoE with E=1, K=1 equals it exactly."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.w_gate = nn.Parameter(torch.empty(d_ff, d_model))
        self.w_up = nn.Parameter(torch.empty(d_ff, d_model))
        self.w_down = nn.Parameter(torch.empty(d_model, d_ff))
        for w in (self.w_gate, self.w_up, self.w_down):
            _init_(w, w.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., D) -> (..., D)."""
        return swiglu(x.reshape(-1, x.shape[-1]), self.w_gate, self.w_up, self.w_down).reshape(x.shape)


class FusedExperts(nn.Module):
    def __init__(self, n_experts: int, d_model: int, d_ff: int):
        super().__init__()
        self.n_experts = n_experts
        self.w_gate = nn.Parameter(torch.empty(n_experts, d_ff, d_model))
        self.w_up = nn.Parameter(torch.empty(n_experts, d_ff, d_model))
        self.w_down = nn.Parameter(torch.empty(n_experts, d_model, d_ff))
        for w in (self.w_gate, self.w_up, self.w_down):
            _init_(w, w.shape[2])

    def expert(self, x: torch.Tensor, e: int) -> torch.Tensor:
        """x (M, D) through expert e -> (M, D), on views of its weights."""
        return swiglu(x, self.w_gate[e], self.w_up[e], self.w_down[e])

    def forward(self, x: torch.Tensor, expert_idx: torch.Tensor, gate_weights: torch.Tensor,
                dropped: torch.Tensor | None, backend: str) -> torch.Tensor:
        """x (N, D), expert_idx / gate_weights / dropped (N, K) -> (N, D). Dropped slots add nothing;
        dropped=None means none are."""
        if backend == "auto":
            backend = "grouped" if x.device.type != "cpu" and grouped_mm_supported(x, self.w_gate, self.w_down) else "sorted"
        if backend == "loop":
            return self._loop(x, expert_idx, gate_weights, dropped)
        if backend == "sorted" and x.shape[0] == 1 and dropped is None:
            return self._single_token(x, expert_idx[0], gate_weights[0])
        token_ids, weights, counts = sort_by_expert(expert_idx, gate_weights, dropped, self.n_experts)
        xs = x[token_ids]  # (A, D), grouped by expert
        out = torch.zeros_like(x)
        if backend == "grouped" and grouped_mm_supported(xs, self.w_gate, self.w_down):
            offs = counts.cumsum(0).to(torch.int32)
            w_gate, w_up, w_down = (w.transpose(1, 2) for w in (self.w_gate, self.w_up, self.w_down))  # (E, in, out)
            h = F.silu(F.grouped_mm(xs, w_gate, offs=offs)) * F.grouped_mm(xs, w_up, offs=offs)  # (A, F)
            return out.index_add_(0, token_ids, F.grouped_mm(h, w_down, offs=offs) * weights.unsqueeze(-1))
        sizes = counts.tolist()
        for e, (rows, tokens, w) in enumerate(zip(*(torch.split(t, sizes) for t in (xs, token_ids, weights)))):
            if len(tokens):  # each expert's share is added while it is still in cache
                out.index_add_(0, tokens, self.expert(rows, e) * w.unsqueeze(-1))
        return out

    def _loop(self, x: torch.Tensor, expert_idx: torch.Tensor, gate_weights: torch.Tensor,
              dropped: torch.Tensor | None) -> torch.Tensor:
        """The reference: for each expert, the kept (token, slot) pairs routed to it."""
        kept = torch.ones_like(expert_idx, dtype=torch.bool) if dropped is None else ~dropped  # (N, K)
        out = torch.zeros_like(x)
        for e in range(self.n_experts):
            tokens, slots = ((expert_idx == e) & kept).nonzero(as_tuple=True)  # (n_e,), (n_e,)
            if tokens.numel():
                out.index_add_(0, tokens, gate_weights[tokens, slots, None] * self.expert(x[tokens], e))
        return out

    def _single_token(self, x: torch.Tensor, experts: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """x (1, D), experts / weights (K,): the token's K experts, one after the other."""
        return sum((w * self.expert(x, e) for e, w in zip(experts.tolist(), weights.unbind())), torch.zeros_like(x))


def sort_by_expert(expert_idx: torch.Tensor, gate_weights: torch.Tensor, dropped: torch.Tensor | None,
                   n_experts: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The kept assignments grouped by expert (stable: token order within an expert):
    token ids (A,), gate weights (A,) and assignments per expert (E,)."""
    k = expert_idx.shape[1]
    flat = expert_idx.reshape(-1)  # (N*K,)
    order = torch.argsort(flat, stable=True)
    if dropped is not None:
        order = order[~dropped.reshape(-1)[order]]
    return order // k, gate_weights.reshape(-1)[order], torch.bincount(flat[order], minlength=n_experts)


_GROUPED_MM_OK: dict[tuple, bool] = {}


def grouped_mm_supported(xs: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor) -> bool:
    """Whether F.grouped_mm runs here for this device, dtype and widths, and its backward too when a
    gradient is needed (torch 2.13 has a CPU forward but no CPU backward). Probed once per key."""
    needs_grad = torch.is_grad_enabled() and (xs.requires_grad or w_in.requires_grad)
    key = (xs.device.type, xs.dtype, tuple(w_in.shape), tuple(w_out.shape), needs_grad)
    if key not in _GROUPED_MM_OK:
        _GROUPED_MM_OK[key] = hasattr(F, "grouped_mm") and _probe_grouped_mm(xs, w_in, w_out, needs_grad)
    return _GROUPED_MM_OK[key]


def _probe_grouped_mm(xs: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor, needs_grad: bool) -> bool:
    """w_in (E, F, D), w_out (E, D, F), used transposed as in FusedExperts.forward."""
    n_experts, d_model = w_in.shape[0], w_in.shape[2]
    offs = torch.arange(1, n_experts + 1, device=xs.device, dtype=torch.int32)
    with torch.enable_grad() if needs_grad else torch.no_grad():
        probe_x = torch.zeros(n_experts, d_model, device=xs.device, dtype=xs.dtype, requires_grad=needs_grad)
        probe_w_in = torch.zeros_like(w_in, requires_grad=needs_grad).transpose(1, 2)
        try:
            y = F.grouped_mm(F.grouped_mm(probe_x, probe_w_in, offs=offs), torch.zeros_like(w_out).transpose(1, 2), offs=offs)
            if needs_grad:
                y.sum().backward()
        except (RuntimeError, TypeError, NotImplementedError):
            return False
    return True
