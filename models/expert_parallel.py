"""Expert parallelism: one MoE layer's experts sharded over the ranks of a torch.distributed group.

Shapes: N tokens of this rank, D model width, F expert width, E experts, K experts per token, R ranks,
A kept (token, expert) assignments of this rank, M rows a rank receives.

Every rank holds its own tokens (its share of the batch) and the router (replicated); the experts are
split by a `Placement`, where an expert may have copies on several ranks (a hot expert replicated, as
DeepSeek's EPLB does). One step, as Megatron-Core's all-to-all token dispatcher does it:
1. route locally (the router of models/moe.py's layer); with a capacity limit, the ranks' choices are
   gathered so every rank drops the same assignments one process on the whole batch would drop;
2. dispatch: exchange the per-(rank, expert) row counts (`all_to_all_single`), then the token rows;
3. compute: each rank runs its experts on the rows it received, each row scaled by its gate weight (the
   weights travel with the rows);
4. combine: the results go back with a second `all_to_all_single` and are summed per token.
A rank that finishes its experts first waits in the combine for the busiest one: the step follows the
busiest rank. The output equals the single-process `MoELayer` (tests/test_expert_parallel.py).
Uses torch.distributed's own collectives only (gloo on CPU, nccl on GPU); knows nothing of timing
harnesses or pages (the measuring lives in lab/expert_parallel.py).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from models.experts import weighted_expert
from routing.capacity import capacity_dropped
from routing.options import RoutingOptions

ExpertWeights = dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # expert -> w_gate (F, D), w_up (F, D), w_down (D, F)


def even_shares(n: int, parts: int) -> list[slice]:
    """0..n-1 cut into `parts` consecutive shares as equal as they can be (sizes differ by at most one)."""
    bounds = [round(p * n / parts) for p in range(parts + 1)]
    return [slice(bounds[p], bounds[p + 1]) for p in range(parts)]


@dataclass(frozen=True)
class Placement:
    """Which experts each rank holds: ranks[r] lists rank r's experts; an expert on several ranks is
    replicated, and its assignments are split evenly between its copies."""
    ranks: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        held = {e for experts in self.ranks for e in experts}
        if held != set(range(len(held))) or any(len(set(r)) != len(r) for r in self.ranks):
            raise ValueError(f"a placement must hold every expert 0..E-1, each at most once per rank; got {self.ranks}")

    @classmethod
    def contiguous(cls, n_experts: int, n_ranks: int) -> "Placement":
        """The default: E / R consecutive experts per rank (sizes differ by at most one when R does not divide E)."""
        return cls(tuple(tuple(range(share.start, share.stop)) for share in even_shares(n_experts, n_ranks)))

    @property
    def n_experts(self) -> int:
        return 1 + max(e for experts in self.ranks for e in experts)

    @property
    def n_ranks(self) -> int:
        return len(self.ranks)

    def copies(self, expert: int) -> list[int]:
        """The ranks that hold `expert`, in rank order."""
        return [r for r, experts in enumerate(self.ranks) if expert in experts]

    def replicated(self, expert: int, on_rank: int) -> "Placement":
        """This placement with a copy of `expert` added on `on_rank`."""
        return Placement(tuple(experts + (expert,) if r == on_rank and expert not in experts else experts
                               for r, experts in enumerate(self.ranks)))


def destinations(expert_idx: torch.Tensor, kept: torch.Tensor, placement: Placement) -> torch.Tensor:
    """expert_idx, kept (N, K) -> the rank each assignment goes to (N, K), -1 where dropped. A replicated
    expert's kept assignments are split into equal consecutive shares (token order) between its copies."""
    dest = torch.full_like(expert_idx, -1)
    for e in range(placement.n_experts):
        mask = (expert_idx == e) & kept
        copies = placement.copies(e)
        if len(copies) == 1:
            dest[mask] = copies[0]
        elif mask.any():
            n = int(mask.sum())
            share = torch.arange(n, device=dest.device) * len(copies) // n  # 0..copies-1, equal consecutive shares
            dest[mask] = torch.tensor(copies, device=dest.device)[share]
    return dest


@dataclass(frozen=True)
class PhaseTimes:
    """One rank's step, in seconds, and what it moved."""
    dispatch: float  # count and row all-to-alls
    compute: float  # its experts on the rows it received
    combine: float  # the return all-to-all (including the wait for the busiest rank) and the sum per token
    rows_sent: int  # rows this rank sent to other ranks
    rows_received: int  # rows other ranks sent to this rank
    rows_computed: int  # rows this rank's experts processed (its own included)
    bytes_sent: int  # rows_sent x D x bytes per element, in the dispatch (the combine returns as many)

    @property
    def step(self) -> float:
        return self.dispatch + self.compute + self.combine


def dispatch_combine(x: torch.Tensor, expert_idx: torch.Tensor, gate_weights: torch.Tensor, dropped: torch.Tensor | None,
                     experts: ExpertWeights, placement: Placement, group=None) -> tuple[torch.Tensor, PhaseTimes]:
    """This rank's share of one expert-parallel step: x (N, D) with its routing (N, K) -> (N, D), the sum over
    kept assignments of gate weight x expert(x), each expert run on the rank that holds it (`experts`: this
    rank's weights, by expert id). Every rank of `group` calls it at once, with the same placement."""
    rank, n_ranks, n_experts = dist.get_rank(group), placement.n_ranks, placement.n_experts
    start = time.perf_counter()
    kept = torch.ones_like(expert_idx, dtype=torch.bool) if dropped is None else ~dropped
    dest = destinations(expert_idx, kept, placement)  # (N, K)
    key = (dest * n_experts + expert_idx).reshape(-1)  # grouped by destination rank, then by expert
    order = torch.argsort(key, stable=True)
    order = order[kept.reshape(-1)[order]]  # (A,) kept assignments, sorted
    k = expert_idx.shape[1]
    token_ids, weights = order // k, gate_weights.reshape(-1)[order]
    send_counts = torch.bincount(key[order], minlength=n_ranks * n_experts)  # (R*E,)
    recv_counts = torch.empty_like(send_counts)
    dist.all_to_all_single(recv_counts, send_counts, group=group)  # (R*E,): rows per (source rank, expert) for me
    send_split = send_counts.view(n_ranks, n_experts).sum(1).tolist()
    recv_split = recv_counts.view(n_ranks, n_experts).sum(1).tolist()
    received = x.new_empty(sum(recv_split), x.shape[1])  # (M, D), by source rank, then by expert
    dist.all_to_all_single(received, x.index_select(0, token_ids), recv_split, send_split, group=group)
    received_weights = weights.new_empty(sum(recv_split))  # (M,) the gate weights travel with their rows
    dist.all_to_all_single(received_weights, weights.contiguous(), recv_split, send_split, group=group)
    dispatched = time.perf_counter()

    results = torch.empty_like(received)
    expert_of_row = torch.arange(n_experts, device=x.device).repeat(n_ranks).repeat_interleave(recv_counts)  # (M,)
    for e, (w_gate, w_up, w_down) in experts.items():
        rows = (expert_of_row == e).nonzero().squeeze(1)
        if rows.numel():  # one product per expert over every source's rows, as one process would run it
            results.index_copy_(0, rows, weighted_expert(received.index_select(0, rows), received_weights[rows].to(x.dtype),
                                                         w_gate, w_up, w_down))
    computed = time.perf_counter()

    returned = torch.empty(len(order), x.shape[1], dtype=x.dtype, device=x.device)  # (A, D), already weighted
    dist.all_to_all_single(returned, results, send_split, recv_split, group=group)
    out = torch.zeros_like(x).index_add_(0, token_ids, returned)
    end = time.perf_counter()
    rows_sent = sum(send_split) - send_split[rank]
    return out, PhaseTimes(dispatched - start, computed - dispatched, end - computed, rows_sent,
                           sum(recv_split) - recv_split[rank], sum(recv_split), rows_sent * x.shape[1] * x.element_size())


def gathered_rows(values: torch.Tensor, group=None) -> tuple[torch.Tensor, int]:
    """Every rank's values (n_r, ...) concatenated in rank order, and where this rank's rows start."""
    sizes = [torch.zeros(1, dtype=torch.long) for _ in range(dist.get_world_size(group))]
    dist.all_gather(sizes, torch.tensor([values.shape[0]]), group=group)
    sizes = [int(s) for s in sizes]
    padded = values.new_zeros(max(sizes), *values.shape[1:])
    padded[: values.shape[0]] = values
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded, group=group)
    rank = dist.get_rank(group)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)]), sum(sizes[:rank])


class ExpertParallelMoE(nn.Module):
    """A zoo MoE layer's router and this rank's experts, run expert-parallel: the same function as
    `models.moe.MoELayer` on the concatenation of every rank's tokens (in rank order).
    Routing options: top-K and the capacity factor (noise, ablation and forcing are the single-process layer's)."""

    def __init__(self, router: nn.Module, experts: ExpertWeights, placement: Placement, top_k: int,
                 capacity_factor: float | None, group=None):
        super().__init__()
        self.router, self.experts, self.placement = router, experts, placement
        self.default_top_k, self.default_capacity, self.group = top_k, capacity_factor, group

    @classmethod
    def shard(cls, layer: nn.Module, placement: Placement, group=None) -> "ExpertParallelMoE":
        """This rank's shard of a `MoELayer`: its router and views of the experts the placement gives this rank."""
        rank, w = dist.get_rank(group), layer.experts
        experts = {e: (w.w_gate[e], w.w_up[e], w.w_down[e]) for e in placement.ranks[rank]}
        return cls(layer.router, experts, placement, layer.default_top_k, layer.default_capacity, group)

    def forward(self, x: torch.Tensor, opts: RoutingOptions = RoutingOptions()) -> tuple[torch.Tensor, PhaseTimes]:
        """x (N, D), this rank's tokens -> (N, D) and the step's phase times on this rank."""
        n_experts = self.placement.n_experts
        k = opts.resolve_top_k(self.default_top_k, n_experts)
        decision = self.router(x, k, opts)
        capacity_factor = opts.resolve_capacity(self.default_capacity)
        dropped = None
        if not math.isinf(capacity_factor):  # capacity counts every rank's tokens, in rank order, as one process would
            every_idx, offset = gathered_rows(decision.expert_idx, self.group)
            dropped = capacity_dropped(every_idx, capacity_factor, n_experts)[offset : offset + x.shape[0]]
        return dispatch_combine(x, decision.expert_idx, decision.gate_weights, dropped, self.experts, self.placement, self.group)
