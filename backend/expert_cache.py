"""The expert-cache view: what keeping only the most-used experts in fast memory would cost.

Practitioners run MoEs whose experts do not fit in fast memory (GPU memory, or RAM beside an SSD) by
keeping the hot experts close and fetching cold ones. For a text and a zoo MoE we count, per layer, how
often each expert is looked up; with the N most-used experts of every layer in fast memory:
- coverage(N): the share of expert look-ups served from fast memory (uniform routing: N/E);
- bytes per token fetched from slow memory: sum over MoE layers of K x (1 - coverage) x expert bytes;
- decode speed, memory-bound at batch 1: 1 / (bytes read from fast memory / fast bandwidth + bytes
  fetched / slow bandwidth), the bytes read per token being all non-expert weights plus the K experts.
For a real model from the calculator the sizes come from its config (scale/); its routing is not
measured here, so it is shown with uniform routing and with the zoo model's measured skew applied at
the same cached fraction of experts (labelled as such). Shapes: E experts, K experts per token, L layers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from backend.analysis import Settings, tokenize
from backend.real_models import get_model
from models.params import ArchSpec, breakdown


@dataclass(frozen=True)
class CoverageCurves:
    model: str
    n_experts: int
    top_k: int
    tokens: int
    measured: list[list[float]]  # (L, E+1) share of look-ups served with the N most-used experts cached, N = 0..E
    uniform: list[float]  # (E+1,) N / E

    @property
    def mean(self) -> list[float]:
        """(E+1,) coverage averaged over layers."""
        return [sum(layer[n] for layer in self.measured) / len(self.measured) for n in range(self.n_experts + 1)]

    def to_dict(self) -> dict:
        return asdict(self) | {"mean": self.mean}


def coverage_from_counts(counts: list[int]) -> list[float]:
    """(E,) look-ups per expert -> (E+1,) share served when the N most-used are cached, N = 0..E."""
    ranked = sorted(counts, reverse=True)
    total = sum(ranked) or 1
    out, acc = [0.0], 0
    for c in ranked:
        acc += c
        out.append(acc / total)
    return out


@torch.no_grad()
def measured_coverage(text: str, settings: Settings) -> CoverageCurves:
    """Per-layer coverage curves of the chosen zoo MoE on this text (experts ranked by use on it)."""
    member = get_model(settings.moe_name)
    ids, _, _ = tokenize(text, member)
    traces = member.model(torch.tensor([ids]), routing=settings.routing(), trace=True).traces
    e = member.model.cfg.n_experts
    return CoverageCurves(member.spec.name, e, settings.top_k, len(ids),
                          [coverage_from_counts(t.expert_counts().tolist()) for t in traces],
                          [n / e for n in range(e + 1)])


def coverage_at_fraction(curve: list[float], fraction: float) -> float:
    """A coverage curve over N = 0..E read at N = fraction x E (linear between points)."""
    x = fraction * (len(curve) - 1)
    low = min(int(x), len(curve) - 2)
    return curve[low] + (x - low) * (curve[low + 1] - curve[low])


@dataclass(frozen=True)
class CacheRow:
    cached: int  # experts per MoE layer kept in fast memory
    fast_gb: float  # weights in fast memory (all non-expert weights + cached experts)
    fetched_mb_per_token: float
    tokens_per_s: float


def cache_table(spec: ArchSpec, bytes_per_param: float, coverage: list[float], fast_gbs: float, slow_gbs: float) -> list[CacheRow]:
    """Rows for N = 0..E cached experts per MoE layer with coverage(N) (E+1 values) for every MoE layer."""
    moe = spec.moe_layers
    if not moe:
        raise ValueError("not an MoE: every weight is read for every token")
    e, k, expert = moe[0].ffn.n_experts, moe[0].ffn.top_k, moe[0].ffn.expert * bytes_per_param
    active = breakdown(spec, active=True)
    other = (active.total - active.routed_experts - active.embedding) * bytes_per_param  # read every token (one embedding row aside)
    total_other = (breakdown(spec).total - breakdown(spec).routed_experts) * bytes_per_param
    rows = []
    for n in range(e + 1):
        served = coverage_at_fraction(coverage, n / e)
        fast_read, fetched = other + len(moe) * k * served * expert, len(moe) * k * (1 - served) * expert
        rows.append(CacheRow(n, (total_other + len(moe) * n * expert) / 1e9, fetched / 1e6,
                             1 / (fast_read / (fast_gbs * 1e9) + fetched / (slow_gbs * 1e9))))
    return rows
