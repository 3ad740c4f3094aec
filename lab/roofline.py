"""The latency lab's models of what the measurements should be, and where they depart from them.

Ideals: the FLOP ratio E/K, and for memory-bound decoding the expected number of distinct experts read
per layer at batch B, E(1 - ((E-K)/E)^B), so the ideal speedup over dense-total is E / that number; and a
roofline model that adds the FLOP limit, with the bandwidth and FLOP/s measured on the machine.
Rows are dicts of lab/variants.Measurement.
"""
from __future__ import annotations

import statistics

from lab.variants import LabScale, call_flops
from models.params import expected_experts_read


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


def paired_ratio(slow: dict, fast: dict) -> tuple[float, float, float] | None:
    """Quartiles (25%, median, 75%) of slow / fast over the repetitions they shared (time_interleaved runs every
    variant of a size once per repetition, so a repetition's two times saw the same moment of the machine):
    the spread of a speedup itself, narrower than one drawn from two separate spreads when the machine's
    speed drifts. None for rows without per-repetition samples (results saved before they were kept)."""
    a, b = slow.get("samples_ms") or (), fast.get("samples_ms") or ()
    if len(a) != len(b) or len(a) < 2:
        return None
    return tuple(statistics.quantiles([x / y for x, y in zip(a, b)], n=4, method="inclusive"))


def speedup(slow: dict, fast: dict) -> tuple[float, tuple[float, float] | None]:
    """slow / fast: the paired median with its interquartile range, or the ratio of the medians and None."""
    paired = paired_ratio(slow, fast)
    return (paired[1], (paired[0], paired[2])) if paired else (slow["median_ms"] / fast["median_ms"], None)


def best_moe(rows: list[dict], phase: str) -> dict[int, dict]:
    """tokens -> the row of the fastest of our MoE backends at that size."""
    best: dict[int, dict] = {}
    for r in rows:
        if r["phase"] == phase and r["variant"].startswith("moe"):
            if r["tokens"] not in best or r["median_ms"] < best[r["tokens"]]["median_ms"]:
                best[r["tokens"]] = r
    return best


def decode_models(rows: list[dict], scale: LabScale, bandwidth: float, ceiling: float) -> list[dict]:
    """Per decode batch size: the measured speedup of the fastest MoE backend over dense-total (the median
    of the paired per-repetition ratios, with their interquartile range, `paired_ratio`; the ratio of the
    medians for rows without samples) next to the memory-bound ideal and the roofline model; dense-total
    over dense-active (a dense layer of the MoE's active width: the same bytes at batch 1, in one layer; None
    where not measured); the MoE's time above K/E of dense-total's (its fixed cost); and the rate (GB/s)
    at which each streams the weights it must read (the MoE: E(1-((E-K)/E)^B) experts)."""
    dense = {r["tokens"]: r for r in rows if r["phase"] == "decode" and r["variant"] == "dense-total"}
    active = {r["tokens"]: r for r in rows if r["phase"] == "decode" and r["variant"] == "dense-active"}
    best = best_moe(rows, "decode")
    out = []
    for b in sorted(set(dense) & set(best)):
        dense_s, moe_s = dense[b]["median_ms"] / 1e3, best[b]["median_ms"] / 1e3
        read = expected_experts_read(scale.n_experts, scale.top_k, b)
        measured, iqr = speedup(dense[b], best[b])
        out.append({"batch": b, "measured": measured, "measured_iqr": iqr, "backend": best[b]["variant"],
                    "dense_active": speedup(dense[b], active[b])[0] if b in active else None,
                    "memory_bound": ideal_decode_speedup(scale, b), "roofline": roofline_decode_speedup(scale, b, bandwidth, ceiling),
                    "moe_excess_ms": 1e3 * (moe_s - scale.top_k / scale.n_experts * dense_s), "experts_read": read,
                    "dense_gbs": scale.n_experts * scale.expert_bytes / dense_s / 1e9,
                    "moe_gbs": read * scale.expert_bytes / moe_s / 1e9})
    return out
