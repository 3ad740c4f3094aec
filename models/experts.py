"""SwiGLU FFN weights, dense and fused-expert, and the dispatch backends that run the experts.

Shapes: N tokens, D model width, F FFN/expert width, E experts, K experts per token,
A kept (token, expert) assignments (A <= N*K).

Expert weights are stored fused as (E, D, F) / (E, F, D) tensors. The backends compute exactly the
same function, sum over a token's kept assignments of weight * expert(x), and differ only in how:
- loop:    a readable per-expert loop over a boolean mask (the reference);
- grouped: assignments sorted by expert, one `torch.nn.functional.grouped_mm` per weight where the
           running torch supports it for this device/dtype/shape, else a split-and-matmul fallback;
- gather:  index the expert weights per assignment and batch-multiply; for decoding a few tokens.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BACKENDS = ("loop", "grouped", "gather")
GATHER_MAX_ASSIGNMENTS = 8  # "auto" picks gather at or below this many assignments (batch-1/small decode)


def swiglu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    """x (..., D) with w_gate, w_up (D, F) and w_down (F, D) -> (..., D)."""
    return (F.silu(x @ w_gate) * (x @ w_up)) @ w_down


def _init_(tensor: torch.Tensor, fan_in: int) -> None:
    nn.init.normal_(tensor, std=1.0 / math.sqrt(fan_in))


class DenseFFN(nn.Module):
    """SwiGLU FFN with the same weight layout as one expert, so an MoE with E=1, K=1 equals it exactly."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.w_gate = nn.Parameter(torch.empty(d_model, d_ff))
        self.w_up = nn.Parameter(torch.empty(d_model, d_ff))
        self.w_down = nn.Parameter(torch.empty(d_ff, d_model))
        for w in (self.w_gate, self.w_up, self.w_down):
            _init_(w, w.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swiglu(x, self.w_gate, self.w_up, self.w_down)


class FusedExperts(nn.Module):
    def __init__(self, n_experts: int, d_model: int, d_ff: int):
        super().__init__()
        self.n_experts = n_experts
        self.w_gate = nn.Parameter(torch.empty(n_experts, d_model, d_ff))
        self.w_up = nn.Parameter(torch.empty(n_experts, d_model, d_ff))
        self.w_down = nn.Parameter(torch.empty(n_experts, d_ff, d_model))
        for w in (self.w_gate, self.w_up, self.w_down):
            _init_(w, w.shape[1])

    def forward(
        self, x: torch.Tensor, expert_idx: torch.Tensor, gate_weights: torch.Tensor, dropped: torch.Tensor, backend: str
    ) -> torch.Tensor:
        """x (N, D), expert_idx / gate_weights / dropped (N, K) -> (N, D). Dropped slots add nothing."""
        n, k = expert_idx.shape
        keep = ~dropped.reshape(-1)  # (N*K,)
        token_ids = torch.arange(n, device=x.device).repeat_interleave(k)[keep]  # (A,)
        expert_ids = expert_idx.reshape(-1)[keep]  # (A,)
        weights = gate_weights.reshape(-1)[keep]  # (A,)
        if backend == "auto":
            backend = "gather" if token_ids.numel() <= GATHER_MAX_ASSIGNMENTS else "grouped"
        run = {"loop": self._loop, "grouped": self._grouped, "gather": self._gather}[backend]
        y = run(x, token_ids, expert_ids)  # (A, D), unweighted expert outputs
        out = torch.zeros_like(x)
        return out.index_add(0, token_ids, y * weights.unsqueeze(-1))

    def _loop(self, x: torch.Tensor, token_ids: torch.Tensor, expert_ids: torch.Tensor) -> torch.Tensor:
        y = x.new_zeros(token_ids.numel(), x.shape[-1])
        for e in range(self.n_experts):
            mask = expert_ids == e
            if mask.any():
                y[mask] = swiglu(x[token_ids[mask]], self.w_gate[e], self.w_up[e], self.w_down[e])
        return y

    def _gather(self, x: torch.Tensor, token_ids: torch.Tensor, expert_ids: torch.Tensor) -> torch.Tensor:
        xa = x[token_ids].unsqueeze(1)  # (A, 1, D)
        h = F.silu(torch.bmm(xa, self.w_gate[expert_ids])) * torch.bmm(xa, self.w_up[expert_ids])  # (A, 1, F)
        return torch.bmm(h, self.w_down[expert_ids]).squeeze(1)  # (A, D)

    def _grouped(self, x: torch.Tensor, token_ids: torch.Tensor, expert_ids: torch.Tensor) -> torch.Tensor:
        order = torch.argsort(expert_ids, stable=True)  # (A,) assignments grouped by expert
        xs = x[token_ids[order]]  # (A, D)
        counts = torch.bincount(expert_ids, minlength=self.n_experts)  # (E,)
        if grouped_mm_supported(xs, self.w_gate, self.w_down):
            offs = counts.cumsum(0).to(torch.int32)
            h = F.silu(F.grouped_mm(xs, self.w_gate, offs=offs)) * F.grouped_mm(xs, self.w_up, offs=offs)  # (A, F)
            ys = F.grouped_mm(h, self.w_down, offs=offs)  # (A, D)
        else:
            chunks = torch.split(xs, counts.tolist())
            ys = torch.cat(
                [swiglu(c, self.w_gate[e], self.w_up[e], self.w_down[e]) for e, c in enumerate(chunks)], dim=0
            )
        y = torch.empty_like(ys)
        y[order] = ys
        return y


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
    n_experts, d_model = w_in.shape[:2]
    offs = torch.arange(1, n_experts + 1, device=xs.device, dtype=torch.int32)
    with torch.enable_grad() if needs_grad else torch.no_grad():
        probe_x = torch.zeros(n_experts, d_model, device=xs.device, dtype=xs.dtype, requires_grad=needs_grad)
        probe_w_in = torch.zeros_like(w_in, requires_grad=needs_grad)
        try:
            y = F.grouped_mm(F.grouped_mm(probe_x, probe_w_in, offs=offs), torch.zeros_like(w_out), offs=offs)
            if needs_grad:
                y.sum().backward()
        except (RuntimeError, TypeError, NotImplementedError):
            return False
    return True
