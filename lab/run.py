"""The latency lab's one entry: `run(plan)` measures a plan and returns the result as a plain dict.

The Latency lab tab (a small plan built from its controls) and `python -m benchmarks.latency` (FULL or
QUICK) both call it, so the two never measure differently. One run: the MoE variants checked equal to
each other (and to the transformers peer), the machine's matmul ceiling and read bandwidth, the
single-layer sweeps (prefill over token counts, decode over batch sizes), optionally whole models and
the product orientations, then the decode models (lab/roofline.py) from those numbers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from backend.reliability import calibration_drift, watch
from backend.timing import last_level_cache_bytes, machine_description
from lab.measure import matmul_ceiling, memory_bandwidth, model_sweep, orientation_sweep, sweep
from lab.roofline import decode_models
from lab.variants import LabScale, build_variants, check_equal
from models.params import expected_experts_read

MAX_VARIANT_DIFF = {"float32": 1e-3, "bfloat16": 0.1}  # the MoE variants must agree to this before anything is timed


@dataclass(frozen=True)
class LabPlan:
    """What one run measures. layers = 0 leaves out whole models; an empty orientation list leaves out
    the product-orientation table."""
    scale: LabScale
    prefill: tuple[int, ...]  # token counts of one sequence
    decode: tuple[int, ...]  # batch sizes (one token for each of B sequences)
    repeats: int = 5
    warmup: int = 1
    layers: int = 0
    model_prefill: tuple[int, ...] = ()
    model_decode: tuple[int, ...] = ()
    orientation: tuple[int, ...] = ()
    ceiling_sizes: tuple[int, ...] = (1024, 2048, 4096)
    calibration_repeats: int = 5
    with_peer: bool = True
    device: str = "cpu"
    seed: int = field(default=0)


# Full: one expert is 50 MB of fp32 weights, so the K=2 experts a token reads (100 MB) and the dense layers
# (100 / 403 MB) all exceed a 32 MB last-level cache several times over.
FULL = LabPlan(LabScale(4096, 1024, 8, 2), prefill=(1, 4, 16, 64, 256, 1024, 4096), decode=(1, 2, 4, 8, 16, 32, 64),
               repeats=11, warmup=2, layers=2, model_prefill=(16, 256, 1024), model_decode=(1, 8, 64),
               orientation=(1, 2, 4, 16, 64, 128, 256, 1024))
# Quick: under 2 minutes on a 2-core machine. On AMD EPYC Zen 4 the earlier grid (1024-token prefill, two-layer
# models, two warm-ups, four orientation sizes) took 129 s; one layer, one warm-up and two sizes 111 s, of which
# the 1024-token prefill was 37 s (dense-total alone is 206 GFLOP a call).
QUICK = LabPlan(FULL.scale, prefill=(1, 64, 512), decode=(1, 8, 64), repeats=5, warmup=1, layers=1,
                model_prefill=(256,), model_decode=(1, 16), orientation=(16, 256))


def run(plan: LabPlan, progress: Callable[[float, str], None] | None = None) -> dict:
    """Measure `plan`; progress(fraction done, what is being timed) is called as it goes."""
    scale, report = plan.scale, progress or (lambda fraction, desc: None)
    torch.manual_seed(plan.seed)
    check = check_equal(build_variants(scale, plan.seed, plan.with_peer, plan.device),
                        torch.randn(64, scale.d_model).to(plan.device, scale.torch_dtype))
    if check > MAX_VARIANT_DIFF[scale.dtype]:
        raise RuntimeError(f"MoE variants disagree (max |diff| {check:.2e}); not timing")
    report(0.0, "matmul ceiling and read bandwidth")
    before = calibrate(plan)
    groups = [(False, "prefill", plan.prefill), (False, "decode", plan.decode)]
    if plan.layers:
        groups += [(True, "prefill", plan.model_prefill), (True, "decode", plan.model_decode)]
    with watch() as watched:
        rows = measure_groups(plan, groups, report)
        after = calibrate(plan)
    report(1.0, "product orientations" if plan.orientation else "done")
    # the fastest the machine showed, so a share of the ceiling is never inflated by a slow moment
    ceiling, bandwidth = (max(b, a) for b, a in zip(before, after))
    reliability = watched.verdict(((r["q75_ms"] - r["q25_ms"]) / r["median_ms"] for r in rows),
                                  calibration_drift(before, after))
    return {
        "scale": asdict(scale), "weights_mb": scale.weight_mb(), "layers": plan.layers, "repeats": plan.repeats,
        "warmup": plan.warmup, "device": plan.device, "ceiling_gflops": ceiling / 1e9, "bandwidth_gbs": bandwidth / 1e9,
        "calibration": {"ceiling_gflops": [before[0] / 1e9, after[0] / 1e9], "bandwidth_gbs": [before[1] / 1e9, after[1] / 1e9]},
        "last_level_cache_mb": last_level_cache_bytes(torch.device(plan.device)) / 2**20,
        "max_abs_diff_between_moe_variants": check, "threads": torch.get_num_threads(), "machine": machine_description(),
        "reliability": asdict(reliability),
        "expected_experts_read": {b: expected_experts_read(scale.n_experts, scale.top_k, b) for b in plan.decode},
        "rows": rows, "decode_models": decode_models(rows, scale, bandwidth, ceiling),
        "orientation": orientation_sweep(scale, list(plan.orientation), plan.repeats) if plan.orientation else [],
    }


def calibrate(plan: LabPlan) -> tuple[float, float]:
    """The machine's matmul ceiling (FLOP/s) and read bandwidth (bytes/s) in the plan's dtype, timed now."""
    dtype = plan.scale.torch_dtype
    return (matmul_ceiling(plan.ceiling_sizes, plan.calibration_repeats, plan.device, dtype),
            memory_bandwidth(plan.calibration_repeats + 4, plan.device, dtype))


def measure_groups(plan: LabPlan, groups: list[tuple[bool, str, tuple[int, ...]]],
                   report: Callable[[float, str], None]) -> list[dict]:
    """The sweeps of `plan` as rows, size by size: groups of (whole model?, phase, sizes)."""
    scale, total, rows, done = plan.scale, sum(len(sizes) for *_, sizes in groups), [], set()
    for whole_model, phase, sizes in groups:
        if not sizes:
            continue
        measured = (model_sweep(scale, plan.layers, phase, list(sizes), plan.repeats, plan.warmup, seed=plan.seed)
                    if whole_model else sweep(scale, phase, list(sizes), plan.repeats, plan.warmup, plan.with_peer,
                                              plan.seed, plan.device))
        for m in measured:  # yielded size by size, every variant of a size together
            rows.append(asdict(m))
            if (m.phase, m.tokens) not in done:
                done.add((m.phase, m.tokens))
                report(len(done) / total, f"{m.phase}, {m.tokens} tokens")
    return rows
