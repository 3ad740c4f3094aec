"""The latency lab's measurements: the variants of lab/variants.py timed side by side, whole models on
the shared backbone, the product orientations of models/products.py, and the machine's own matmul
ceiling and read bandwidth.

Every timing uses the project's one harness (backend/timing.time_interleaved): the same inputs for every
variant, interleaved (each repetition runs every variant once, in rotating order), after warm-up, with
the caches flushed before every call (no variant finds weights another just read); medians with the
interquartile range. Nothing here is estimated.
Shapes: N tokens, D model width, F expert width.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from backend.timing import greedy_decoder, last_level_cache_bytes, time_interleaved
from lab.variants import LabScale, Measurement, build_models, build_variants, call_flops
from models.experts import swiglu
from models.products import linear, weight_stationary
from routing.options import RoutingOptions


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def _ms(samples: list[float]) -> tuple[float, ...]:
    return tuple(1e3 * s for s in samples)


def sweep(scale: LabScale, phase: str, sizes: list[int], repeats: int = 7, warmup: int = 2, with_peer: bool = True,
          seed: int = 0, device: str = "cpu") -> Iterator[Measurement]:
    """Time every variant at every size; yields as it goes (for progress bars)."""
    variants = build_variants(scale, seed, with_peer, device)
    gen = torch.Generator().manual_seed(seed)
    for n in sizes:
        x = torch.randn(n, scale.d_model, generator=gen).to(device, scale.torch_dtype)
        for name, samples in time_interleaved(variants, x, repeats, warmup, flush_cache=True).items():
            q25, med, q75 = _quartiles(samples)
            flops = call_flops(scale, name, n)
            yield Measurement(phase, n, name, med * 1e3, q25 * 1e3, q75 * 1e3, flops, flops / med / 1e9, _ms(samples))


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
            yield Measurement(f"model-{phase}", n, name, med * 1e3, q25 * 1e3, q75 * 1e3, flops, flops / med / 1e9, _ms(samples))


def orientation_sweep(scale: LabScale, sizes: list[int], repeats: int = 7, seed: int = 0) -> list[dict]:
    """One expert's share of the sorted dispatch for M rows (SwiGLU, then index_add_ into the layer's
    output), with every product computed as x w^T (F.linear, as transformers does), as (w x^T)^T
    (weight-stationary), and as models.products.linear chooses by M; caches flushed before every call.
    The measurement behind that choice."""
    gen = torch.Generator().manual_seed(seed)
    d, f = scale.d_model, scale.d_expert
    weights = tuple(torch.randn(shape, generator=gen).to(scale.torch_dtype) for shape in ((f, d), (f, d), (d, f)))
    products = {"x_wT_ms": F.linear, "w_xT_ms": weight_stationary, "chosen_ms": linear}
    out = []
    for m in sizes:
        rows = torch.arange(m)
        fns = {name: (lambda p: lambda x: torch.zeros_like(x).index_add_(0, rows, swiglu(x, *weights, product=p)))(p)
               for name, p in products.items()}
        samples = time_interleaved(fns, torch.randn(m, d, generator=gen).to(scale.torch_dtype), repeats, 2, flush_cache=True)
        out.append({"rows": m} | {name: 1e3 * statistics.median(t) for name, t in samples.items()})
    return out


def _median_seconds(fn: Callable[[], object], repeats: int, on: torch.Tensor) -> float:
    """Median seconds of fn() over repeats after one warm-up, synchronised with on's device."""
    return statistics.median(time_interleaved({"fn": lambda _: fn()}, on, repeats, warmup=1)["fn"])


def matmul_ceiling(sizes: tuple[int, ...] = (1024, 2048, 4096), repeats: int = 5, device: str = "cpu",
                   dtype: torch.dtype = torch.float32) -> float:
    """The machine's matmul FLOP/s in `dtype`: the best over `sizes` of the median over repeats of an n x n x n product."""
    def flops_per_s(n: int) -> float:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        return 2 * n**3 / _median_seconds(lambda: a @ b, repeats, a)

    return max(flops_per_s(n) for n in sizes)


def memory_bandwidth(repeats: int = 9, device: str = "cpu", dtype: torch.dtype = torch.float32) -> float:
    """The machine's read bandwidth in bytes/s: the sum of a `dtype` buffer eight times the last-level cache."""
    buf = torch.ones(8 * last_level_cache_bytes(torch.device(device)) // dtype.itemsize, device=device, dtype=dtype)
    return buf.numel() * dtype.itemsize / _median_seconds(buf.sum, repeats, buf)
