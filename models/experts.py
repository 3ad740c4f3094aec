"""SwiGLU FFN weights, dense and fused-expert, and the dispatch backends that run the experts.

Shapes: N tokens, D model width, F FFN/expert width, E experts, K experts per token,
A kept (token, expert) assignments (A <= N*K).

Weights use nn.Linear's (out, in) layout, as transformers' Mixtral does: w_gate, w_up (F, D) and w_down
(D, F), stacked over experts as (E, F, D) / (E, D, F). Every product goes through models/products.py
(the one place that tunes products for the CPU).

The dispatch backends are sibling functions with one signature,
    dispatch(x, w_gate, w_up, w_down, expert_idx, gate_weights, dropped) -> (N, D),
that compute exactly the same function, the sum over a token's kept assignments of weight * expert(x),
and differ only in how (as torchtitan keeps its for-loop and grouped-mm paths side by side):
- loop:    a readable per-expert loop over a boolean mask (the reference);
- sorted:  assignments sorted by expert once, then one matmul per expert that has tokens, on views of
           its weights: only the chosen experts' weights are read and nothing is copied. A single token
           (batch-1 decoding) skips the sort and runs its K experts directly;
- grouped: the same sort, then one `torch.nn.functional.grouped_mm` per weight matrix (one kernel for
           all experts). Where the running torch cannot run it for this device, dtype and shape (torch
           2.13 has no CPU backward), it raises `DispatchUnavailable`; it never falls back silently.
"auto" takes `grouped` where grouped_mm runs on an accelerator (`resolve_backend`); on a CPU without gradients
whichever of sorted and grouped measured faster on the first inputs of each shape (`measured_backend`: grouped_mm
loops over the experts itself, empty ones included, yet wins for many bf16 experts); with gradients `sorted`.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from models.products import fastest, linear, power_of_two_at_least, row_major_linear

BACKENDS = ("loop", "sorted", "grouped")


class DispatchUnavailable(RuntimeError):
    """The requested dispatch backend cannot run on this device, dtype or shape."""


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

    def forward(self, x: torch.Tensor, expert_idx: torch.Tensor, gate_weights: torch.Tensor,
                dropped: torch.Tensor | None, backend: str) -> torch.Tensor:
        """x (N, D), expert_idx / gate_weights / dropped (N, K) -> (N, D). Dropped slots add nothing;
        dropped=None means none are."""
        return run_experts(x, self.w_gate, self.w_up, self.w_down, expert_idx, gate_weights, dropped, backend)


def run_experts(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor, expert_idx: torch.Tensor,
                gate_weights: torch.Tensor, dropped: torch.Tensor | None, backend: str) -> torch.Tensor:
    """Any stacked SwiGLU expert weights (E, F, D) / (E, D, F) through the chosen dispatch backend ("auto" on a CPU
    without gradients: whichever of sorted and grouped measured faster here, see `measured_backend`)."""
    args = (x, w_gate, w_up, w_down, expert_idx, gate_weights, dropped)
    if backend == "auto" and x.device.type == "cpu" and not torch.is_grad_enabled() and grouped_mm_supported(x, w_gate, w_down):
        backend = measured_backend(*args)
    else:
        backend = resolve_backend(backend, x, w_gate, w_down)
    return DISPATCH[backend](*args)


_MEASURED: dict[tuple, str] = {}
MEASURE_REPEATS = 5  # rounds of the two backends taking turns: a wrong pick costs up to 40% (OLMoE, sorted at 256 tokens)


def measured_backend(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor,
                     expert_idx: torch.Tensor, gate_weights: torch.Tensor, dropped: torch.Tensor | None) -> str:
    """On a CPU, sorted or grouped, whichever ran faster on these very inputs the first time this key was seen (expert
    shape, dtype, threads, and, each rounded up to a power of two, the assignments per expert and the busiest expert's):
    neither wins everywhere (OLMoE's 64 bf16 experts of 2048 x 1024 at 256 tokens on an AMD EPYC with bf16 units:
    grouped 0.63 s, sorted 0.73 s for 4 layers; few fp32 experts with a handful of rows each favour the loop over only
    the experts in use), and the balance of the load decides too: with oneDNN kept off the bf16 units, grouped won a
    layer whose busiest expert had 110 of 2,048 assignments (476 vs 622 ms) and lost layers whose busiest had 256 and
    40 experts sat idle (380 vs 200-320 ms), so one key for both picked grouped for all 16 layers (9.1 s vs 6.4 s)."""
    busiest = int(torch.bincount(expert_idx.reshape(-1), minlength=w_gate.shape[0]).max())
    key = (tuple(w_gate.shape), w_gate.dtype, torch.get_num_threads(),
           power_of_two_at_least(expert_idx.numel() // w_gate.shape[0]), power_of_two_at_least(busiest))
    if key not in _MEASURED:
        args = (x, w_gate, w_up, w_down, expert_idx, gate_weights, dropped)
        _MEASURED[key] = fastest({name: (lambda f: lambda: f(*args))(DISPATCH[name]) for name in ("sorted", "grouped")},
                                 MEASURE_REPEATS)
    return _MEASURED[key]


def loop_dispatch(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor,
                  expert_idx: torch.Tensor, gate_weights: torch.Tensor, dropped: torch.Tensor | None) -> torch.Tensor:
    """The reference: for each expert, the kept (token, slot) pairs routed to it."""
    kept = torch.ones_like(expert_idx, dtype=torch.bool) if dropped is None else ~dropped  # (N, K)
    out = torch.zeros_like(x)
    for e in range(w_gate.shape[0]):
        tokens, slots = ((expert_idx == e) & kept).nonzero(as_tuple=True)  # (n_e,), (n_e,)
        if tokens.numel():
            out.index_add_(0, tokens, gate_weights[tokens, slots, None] * swiglu(x[tokens], w_gate[e], w_up[e], w_down[e]))
    return out


def sorted_dispatch(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor,
                    expert_idx: torch.Tensor, gate_weights: torch.Tensor, dropped: torch.Tensor | None) -> torch.Tensor:
    """One sort by expert, then each expert's rows through views of its weights, the gate weights applied to
    its F-wide hidden rows (the same sum as weighting its D-wide output, for less work); a single token runs
    its K experts one after the other."""
    if x.shape[0] == 1 and dropped is None:
        return sum((w * swiglu(x, w_gate[e], w_up[e], w_down[e]) for e, w in zip(expert_idx[0].tolist(), gate_weights[0].unbind())),
                   torch.zeros_like(x))
    token_ids, weights, counts = sort_by_expert(expert_idx, gate_weights, dropped, w_gate.shape[0])
    sizes = counts.tolist()
    # With gradients one gather of all (A, D) assignment rows: its backward (index_add_) is 2x faster than x[ids]'s.
    # Without, one gather per expert: the single (A, D) copy is a fresh allocation too large for the allocator to
    # reuse, page-faulted on every call (on a 2-core AMD EPYC it was 17% of the layer's time at 4096 tokens).
    gathered = torch.split(x.index_select(0, token_ids), sizes) if torch.is_grad_enabled() else [None] * len(sizes)
    out = torch.zeros_like(x)
    per_expert = zip(gathered, *(torch.split(t, sizes) for t in (token_ids, weights)), *(w.unbind(0) for w in (w_gate, w_up, w_down)))
    for rows, tokens, w, gate, up, down in per_expert:  # unbind, not w[e]: its backward is one stack, not E zero-filled copies
        if len(tokens):  # each expert's share is added while it is still in cache
            rows = x.index_select(0, tokens) if rows is None else rows  # (n_e, D)
            out.index_add_(0, tokens, weighted_expert(rows, w, gate, up, down))
    return out


def weighted_expert(rows: torch.Tensor, weights: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor,
                    w_down: torch.Tensor) -> torch.Tensor:
    """One expert on its rows (M, D), each scaled by its gate weight (M,) -> (M, D): the weights applied to the
    F-wide hidden rows (the same as weighting the output, for less work), the down product row-major."""
    hidden = F.silu(linear(rows, w_gate)) * linear(rows, w_up) * weights.unsqueeze(-1)  # (M, F)
    return row_major_linear(hidden, w_down)


def clamped_swiglu(gate: torch.Tensor, up: torch.Tensor, alpha: float, limit: float) -> torch.Tensor:
    """gpt-oss's expert activation: gate clamped above at `limit`, up to [-limit, limit], then
    (up + 1) * gate * sigmoid(alpha * gate)."""
    gate, up = gate.clamp(max=limit), up.clamp(-limit, limit)
    return (up + 1) * gate * torch.sigmoid(alpha * gate)


def sorted_apply(x: torch.Tensor, expert_idx: torch.Tensor, gate_weights: torch.Tensor, dropped: torch.Tensor | None,
                 n_experts: int, expert: Callable[[torch.Tensor, int], torch.Tensor], gate_input: bool = False) -> torch.Tensor:
    """The sorted dispatch for any expert function expert(rows (M, D), e) -> (M, D) (experts that are not a plain
    SwiGLU: biases, another activation): each expert's rows once, weighted by their gates (or, with gate_input, the
    rows scaled by their gates before the expert, as Llama 4 does), summed per token."""
    token_ids, weights, counts = sort_by_expert(expert_idx, gate_weights, dropped, n_experts)
    out = torch.zeros_like(x)
    sizes = counts.tolist()
    for e, (tokens, w) in enumerate(zip(torch.split(token_ids, sizes), torch.split(weights, sizes))):
        if len(tokens):
            rows, w = x.index_select(0, tokens), w.unsqueeze(-1).to(x.dtype)  # (M, D), (M, 1)
            out.index_add_(0, tokens, expert(rows * w, e) if gate_input else expert(rows, e) * w)
    return out


def grouped_dispatch(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor,
                     expert_idx: torch.Tensor, gate_weights: torch.Tensor, dropped: torch.Tensor | None) -> torch.Tensor:
    """One sort by expert, then one grouped_mm per weight matrix; DispatchUnavailable where it cannot run."""
    token_ids, weights, counts = sort_by_expert(expert_idx, gate_weights, dropped, w_gate.shape[0])
    xs = x.index_select(0, token_ids)  # (A, D), grouped by expert (its backward, index_add_, is 2x faster than x[ids]'s)
    if not grouped_mm_supported(xs, w_gate, w_down):
        raise DispatchUnavailable(f"grouped_mm cannot run here (torch {torch.__version__}, {xs.device.type}, {xs.dtype}"
                                  f"{', with gradients' if _needs_grad(xs, w_gate) else ''}); use dispatch 'sorted'")
    offs = counts.cumsum(0).to(torch.int32)
    gate_up = stacked_halves(w_gate, w_up)  # a checkpoint's fused (E, 2F, D): one product for both (1-5% faster on a CPU)
    if gate_up is not None:
        gate, up = F.grouped_mm(xs, gate_up.transpose(1, 2), offs=offs).chunk(2, dim=-1)  # (A, F) each
    else:
        gate, up = (F.grouped_mm(xs, w.transpose(1, 2), offs=offs) for w in (w_gate, w_up))  # weights (E, in, out)
    # (A, F): each row weighted by its gate before the down product (less work than weighting the D-wide output), in
    # place (no new (A, F) tensors): 10% less time per layer than weighting the output (OLMoE 512 tokens, AMD EPYC)
    h = F.silu(gate).mul_(up).mul_(weights.unsqueeze(-1))
    return torch.zeros_like(x).index_add_(0, token_ids, F.grouped_mm(h, w_down.transpose(1, 2), offs=offs))


def stacked_halves(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor | None:
    """top and bottom (E, F, D): the two halves along dim 1 of one (E, 2F, D) tensor (a checkpoint's fused
    gate_up_proj) -> that tensor, as a view; None when they are not laid out so (the zoo's separate weights)."""
    f, d = top.shape[-2:]
    laid_out = (top.shape == bottom.shape and top.stride() == bottom.stride() == (2 * f * d, d, 1)
                and top.dtype == bottom.dtype and top.untyped_storage().data_ptr() == bottom.untyped_storage().data_ptr()
                and bottom.data_ptr() == top.data_ptr() + f * d * top.element_size())
    return top.as_strided((top.shape[0], 2 * f, d), top.stride()) if laid_out else None


DISPATCH: dict[str, Callable[..., torch.Tensor]] = {"loop": loop_dispatch, "sorted": sorted_dispatch, "grouped": grouped_dispatch}


def resolve_backend(backend: str, x: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor) -> str:
    """The backend that runs for `backend`: "auto" becomes grouped on an accelerator that runs it, else sorted."""
    if backend == "auto":
        return "grouped" if x.device.type != "cpu" and grouped_mm_supported(x, w_in, w_out) else "sorted"
    if backend not in DISPATCH:
        raise ValueError(f"dispatch must be one of auto, {', '.join(DISPATCH)}; got {backend!r}")
    return backend


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


def _needs_grad(xs: torch.Tensor, w_in: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and (xs.requires_grad or w_in.requires_grad)


def grouped_mm_supported(xs: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor) -> bool:
    """Whether F.grouped_mm runs here for this device, dtype and widths, and its backward too when a
    gradient is needed (torch 2.13 has a CPU forward but no CPU backward). Probed once per key."""
    needs_grad = _needs_grad(xs, w_in)
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
