"""The latency lab: why an MoE layer runs faster than a dense layer of the same total size, and when
it stops, measured side by side on random weights at a chosen scale.

Variants timed on the same inputs, interleaved (each repetition runs every variant once, in rotating
order), after warm-up, with the caches flushed before every call (no variant finds weights another just
read); medians with the interquartile range:
- dense-active:  SwiGLU FFN of width K*F (the MoE's active width: compute-matched)
- dense-total:   SwiGLU FFN of width E*F (the MoE's total width: parameter-matched)
- moe-<backend>: the MoE layer with each dispatch backend of models/experts.py (loop, sorted, grouped)
- hf-mixtral:    Hugging Face transformers' MixtralSparseMoeBlock with the same weights (eager experts),
                 checked equal to ours before timing; left out when transformers is not installed.
Ideals: the FLOP ratio, and for memory-bound decoding the expected number of distinct experts read per
layer at batch B, E(1 - ((E-K)/E)^B), so the ideal speedup over dense-total is E / that number; and a
roofline model that adds the FLOP limit, with the bandwidth and FLOP/s measured on the machine.
Shapes: N tokens, D model width, F expert width, E experts, K experts per token.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from models.config import ModelConfig
from models.experts import BACKENDS, DenseFFN, linear, swiglu
from models.latency import greedy_decoder, last_level_cache_bytes, time_interleaved
from models.moe import MoELayer
from models.scale import expected_experts_read
from routing.options import RoutingOptions


MAX_MOE_BYTES = 2**30  # fp32 weights of all experts; the variants hold about three times this


@dataclass(frozen=True)
class LabScale:
    d_model: int = 1024
    d_expert: int = 1024
    n_experts: int = 8
    top_k: int = 2

    def __post_init__(self) -> None:
        if not (16 <= self.d_model <= 8192 and 16 <= self.d_expert <= 16384 and 1 <= self.top_k <= self.n_experts <= 64):
            raise ValueError("scale out of range: d_model 16-8192, d_expert 16-16384, 1 <= top_k <= experts <= 64")
        if self.n_experts * self.expert_bytes > MAX_MOE_BYTES:  # dense-total and the peer hold as much again
            raise ValueError(f"the MoE's weights would take {self.n_experts * self.expert_bytes / 1e9:.1f} GB; "
                             f"this lab keeps them under {MAX_MOE_BYTES / 1e9:.0f} GB (fewer experts or narrower layers)")

    def moe_config(self) -> ModelConfig:
        return ModelConfig(vocab_size=16, d_model=self.d_model, n_layers=1, n_heads=1, ffn_kind="moe", d_ff=self.d_expert,
                           n_experts=self.n_experts, top_k=self.top_k, context_length=16)

    @property
    def expert_bytes(self) -> int:
        """fp32 weights of one expert (gate, up, down)."""
        return 3 * self.d_model * self.d_expert * 4

    def weight_mb(self) -> dict[str, float]:
        expert = self.expert_bytes / 1e6
        return {"dense-active": expert * self.top_k, "dense-total": expert * self.n_experts, "moe (all experts)": expert * self.n_experts}


@dataclass(frozen=True)
class Measurement:
    phase: str  # prefill (N tokens of one sequence) | decode (one token for each of B sequences)
    tokens: int  # N for prefill, B for decode: the tokens one call of the layer processes
    variant: str
    median_ms: float
    q25_ms: float
    q75_ms: float
    flops: float  # forward FLOPs of one call (active weights only)
    gflop_per_s: float


def build_variants(scale: LabScale, seed: int = 0, with_peer: bool = True,
                   device: str = "cpu") -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """name -> function of x (N, D) -> (N, D), all from the same random MoE weights, on `device`."""
    torch.manual_seed(seed)
    moe = MoELayer(scale.moe_config(), 0).eval()
    d, f, e, k = scale.d_model, scale.d_expert, scale.n_experts, scale.top_k
    dense_active, dense_total = DenseFFN(d, k * f).eval(), DenseFFN(d, e * f).eval()
    with torch.no_grad():  # the dense twins reuse expert weights, so all variants read the same values
        for dense, n in ((dense_active, k), (dense_total, e)):
            dense.w_gate.copy_(moe.experts.w_gate[:n].reshape(n * f, d))
            dense.w_up.copy_(moe.experts.w_up[:n].reshape(n * f, d))
            dense.w_down.copy_(moe.experts.w_down[:n].permute(1, 0, 2).reshape(d, n * f))

    def moe_fn(backend: str):
        opts = RoutingOptions(dispatch=backend)
        return lambda x: moe(x[None], opts, None, False)[0][0]

    peer = mixtral_peer(moe) if with_peer else None
    for module in (moe, dense_active, dense_total, peer):
        if module is not None:
            module.to(device)
    variants = {"dense-active": dense_active, "dense-total": dense_total}
    variants |= {f"moe-{b}": moe_fn(b) for b in BACKENDS}
    if peer is not None:
        variants["hf-mixtral"] = lambda x: peer(x[None])[0]
    return variants


def mixtral_peer(moe: MoELayer):
    """transformers' MixtralSparseMoeBlock holding `moe`'s weights (eager experts), or None if unavailable."""
    try:
        from transformers import MixtralConfig
        from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock
    except ImportError:
        return None
    e, f, d = moe.experts.w_gate.shape
    config = MixtralConfig(hidden_size=d, intermediate_size=f, num_local_experts=e, num_experts_per_tok=moe.default_top_k)
    if hasattr(config, "_experts_implementation"):
        config._experts_implementation = "eager"
    block = MixtralSparseMoeBlock(config).eval()
    with torch.no_grad():
        block.gate.weight.copy_(moe.router.gate.weight)
        block.experts.gate_up_proj.copy_(torch.cat([moe.experts.w_gate, moe.experts.w_up], dim=1))  # (E, 2F, D)
        block.experts.down_proj.copy_(moe.experts.w_down)  # (E, D, F)
    return block


def check_equal(variants: dict, x: torch.Tensor) -> float:
    """Max |difference| between every MoE variant (ours and the peer) and moe-loop on x."""
    with torch.no_grad():
        ref = variants["moe-loop"](x)
        return max(float((variants[n](x) - ref).abs().max()) for n in variants if n.startswith(("moe", "hf")))


def call_flops(scale: LabScale, variant: str, tokens: int) -> float:
    d, f, e, k = scale.d_model, scale.d_expert, scale.n_experts, scale.top_k
    width = {"dense-active": k * f, "dense-total": e * f}.get(variant, k * f)
    router = 0 if variant.startswith("dense") else 2 * d * e
    return tokens * (2 * 3 * d * width + router)


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def sweep(scale: LabScale, phase: str, sizes: list[int], repeats: int = 7, warmup: int = 2, with_peer: bool = True,
          seed: int = 0, device: str = "cpu") -> Iterator[Measurement]:
    """Time every variant at every size; yields as it goes (for progress bars)."""
    variants = build_variants(scale, seed, with_peer, device)
    gen = torch.Generator().manual_seed(seed)
    for n in sizes:
        x = torch.randn(n, scale.d_model, generator=gen).to(device)
        for name, samples in time_interleaved(variants, x, repeats, warmup, flush_cache=True).items():
            q25, med, q75 = _quartiles(samples)
            flops = call_flops(scale, name, n)
            yield Measurement(phase, n, name, med * 1e3, q25 * 1e3, q75 * 1e3, flops, flops / med / 1e9)


def orientation_sweep(scale: LabScale, sizes: list[int], repeats: int = 7, seed: int = 0) -> list[dict]:
    """One expert's share of the sorted dispatch for M rows (SwiGLU, then index_add_ into the layer's
    output), with every product computed as x w^T (F.linear, as transformers does), as (w x^T)^T
    (weight-stationary), and as models.experts.linear chooses by M; caches flushed before every call.
    The measurement behind that choice."""
    gen = torch.Generator().manual_seed(seed)
    d, f = scale.d_model, scale.d_expert
    weights = (torch.randn(f, d, generator=gen), torch.randn(f, d, generator=gen), torch.randn(d, f, generator=gen))
    products = {"x_wT_ms": F.linear, "w_xT_ms": lambda x, w: (w @ x.t()).t(), "chosen_ms": linear}
    out = []
    for m in sizes:
        rows = torch.arange(m)
        fns = {name: (lambda p: lambda x: torch.zeros_like(x).index_add_(0, rows, swiglu(x, *weights, product=p)))(p)
               for name, p in products.items()}
        samples = time_interleaved(fns, torch.randn(m, d, generator=gen), repeats, 2, flush_cache=True)
        out.append({"rows": m} | {name: 1e3 * statistics.median(t) for name, t in samples.items()})
    return out


def _median_seconds(fn: Callable[[], object], repeats: int, on: torch.Tensor) -> float:
    """Median seconds of fn() over repeats after one warm-up, synchronised with on's device."""
    return statistics.median(time_interleaved({"fn": lambda _: fn()}, on, repeats, warmup=1)["fn"])


def matmul_ceiling(sizes: tuple[int, ...] = (1024, 2048, 4096), repeats: int = 5, device: str = "cpu") -> float:
    """The machine's fp32 matmul FLOP/s: the best over `sizes` of the median over repeats of an n x n x n product."""
    def flops_per_s(n: int) -> float:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        return 2 * n**3 / _median_seconds(lambda: a @ b, repeats, a)

    return max(flops_per_s(n) for n in sizes)


def memory_bandwidth(repeats: int = 9, device: str = "cpu") -> float:
    """The machine's read bandwidth in bytes/s: the sum of an fp32 buffer eight times the last-level cache."""
    buf = torch.ones(8 * last_level_cache_bytes(torch.device(device)) // 4, device=device)
    return buf.numel() * 4 / _median_seconds(buf.sum, repeats, buf)


def ideal_decode_speedup(scale: LabScale, batch: int) -> float:
    """Memory-bound ideal for dense-total / MoE at batch B: expert weights read, E / E(1-((E-K)/E)^B)."""
    return scale.n_experts / expected_experts_read(scale.n_experts, scale.top_k, batch)


def roofline_decode_speedup(scale: LabScale, batch: int, bandwidth: float, ceiling: float) -> float:
    """dense-total / MoE time at batch B when each call takes the longer of reading its weights and doing
    its FLOPs, max(bytes / bandwidth, FLOPs / ceiling): the MoE reads E(1-((E-K)/E)^B) experts and does
    K/E of the FLOPs. Memory-bound at small B (= the ideal above); once the dense layer turns
    compute-bound the speedup climbs back toward the FLOP ratio E/K."""
    def seconds(experts_read: float, flops: float) -> float:
        return max(experts_read * scale.expert_bytes / bandwidth, flops / ceiling)

    dense = seconds(scale.n_experts, call_flops(scale, "dense-total", batch))
    moe = seconds(expected_experts_read(scale.n_experts, scale.top_k, batch), call_flops(scale, "moe", batch))
    return dense / moe


def best_moe(rows: list[dict], phase: str) -> dict[int, dict]:
    """tokens -> the row of the fastest of our MoE backends at that size."""
    best: dict[int, dict] = {}
    for r in rows:
        if r["phase"] == phase and r["variant"].startswith("moe"):
            if r["tokens"] not in best or r["median_ms"] < best[r["tokens"]]["median_ms"]:
                best[r["tokens"]] = r
    return best


def decode_models(rows: list[dict], scale: LabScale, bandwidth: float, ceiling: float) -> list[dict]:
    """Per decode batch size: the measured speedup of the fastest MoE backend over dense-total next to the
    memory-bound ideal and the roofline model; the MoE's time above K/E of dense-total's (its fixed cost);
    and the rate (GB/s) at which each streams the weights it must read (the MoE: E(1-((E-K)/E)^B) experts)."""
    dense = {r["tokens"]: r for r in rows if r["phase"] == "decode" and r["variant"] == "dense-total"}
    best = best_moe(rows, "decode")
    out = []
    for b in sorted(set(dense) & set(best)):
        dense_s, moe_s = dense[b]["median_ms"] / 1e3, best[b]["median_ms"] / 1e3
        read = expected_experts_read(scale.n_experts, scale.top_k, b)
        out.append({"batch": b, "measured": dense_s / moe_s, "backend": best[b]["variant"],
                    "memory_bound": ideal_decode_speedup(scale, b), "roofline": roofline_decode_speedup(scale, b, bandwidth, ceiling),
                    "moe_excess_ms": 1e3 * (moe_s - scale.top_k / scale.n_experts * dense_s), "experts_read": read,
                    "dense_gbs": scale.n_experts * scale.expert_bytes / dense_s / 1e9,
                    "moe_gbs": read * scale.expert_bytes / moe_s / 1e9})
    return out


def as_dict(m: Measurement) -> dict:
    return asdict(m)


def build_models(scale: LabScale, layers: int, seed: int = 0) -> dict:
    """Whole models on the shared backbone (random weights): dense-active, dense-total and the MoE."""
    from models.transformer import Transformer

    base = ModelConfig(vocab_size=4096, d_model=scale.d_model, n_layers=layers, n_heads=max(1, scale.d_model // 64),
                       context_length=4096 + 64)
    torch.manual_seed(seed)
    return {
        "dense-active": Transformer(base.replace(d_ff=scale.top_k * scale.d_expert)).eval(),
        "dense-total": Transformer(base.replace(d_ff=scale.n_experts * scale.d_expert)).eval(),
        "moe": Transformer(base.replace(ffn_kind="moe", d_ff=scale.d_expert, n_experts=scale.n_experts,
                                        top_k=scale.top_k)).eval(),
    }


def model_sweep(scale: LabScale, layers: int, phase: str, sizes: list[int], repeats: int = 5, warmup: int = 1,
                prefix: int = 32, seed: int = 0) -> Iterator[Measurement]:
    """Whole-model timings: prefill of N tokens (batch 1), or one decode step for B sequences whose KV
    cache already holds `prefix` tokens."""
    models = build_models(scale, layers, seed)
    gen = torch.Generator().manual_seed(seed)
    for n in sizes:
        if phase == "prefill":
            ids = torch.randint(0, 4096, (1, n), generator=gen)
            fns = {name: (lambda m: lambda _: m(ids))(m) for name, m in models.items()}
        else:
            ids = torch.randint(0, 4096, (n, prefix), generator=gen)
            fns = {name: greedy_decoder(m, ids, RoutingOptions(), steps=1) for name, m in models.items()}
        for name, samples in time_interleaved(fns, ids, repeats, warmup, flush_cache=True).items():
            q25, med, q75 = _quartiles(samples)
            per_layer = call_flops(scale, name, n)
            attention = 4 * scale.d_model * scale.d_model * 2 * n
            flops = layers * (per_layer + attention)
            yield Measurement(f"model-{phase}", n, name, med * 1e3, q25 * 1e3, q75 * 1e3, flops, flops / med / 1e9)
