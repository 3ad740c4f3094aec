"""`python -m benchmarks.latency [--quick]`: why MoE runs faster with more parameters, and when it stops.

One run measures, interleaved and on the same inputs, the single-layer variants of models/latency_lab.py
(prefill over token counts, decode over batch sizes), whole models on the shared backbone, the product
orientations of models.experts.linear, and the machine's fp32 matmul ceiling and read bandwidth; it checks
the MoE backends and the transformers peer against each other first. Writes
benchmarks/results/latency{,_quick}.{md,csv,json,html} and prints the markdown report.
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
from dataclasses import asdict
from html import escape
from pathlib import Path

import torch
from tqdm import tqdm

from models.latency import last_level_cache_bytes
from models.latency_lab import (LabScale, as_dict, best_moe, build_variants, check_equal, decode_models, matmul_ceiling,
                                memory_bandwidth, model_sweep, orientation_sweep, sweep)
from models.scale import expected_experts_read
from viz.latency_views import departure_text, roofline_figure, speedup_figure, times_figure

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks/results"
# Full: one expert is 50 MB of fp32 weights, so the K=2 experts a token reads (100 MB) and the dense layers
# (100 / 403 MB) all exceed this machine's 32 MB last-level cache several times over.
FULL = dict(scale=LabScale(4096, 1024, 8, 2), prefill=[1, 4, 16, 64, 256, 1024, 4096], decode=[1, 2, 4, 8, 16, 32, 64],
            layers=2, model_prefill=[16, 256, 1024], model_decode=[1, 8, 64], repeats=11,
            orientation=[1, 2, 4, 16, 64, 128, 256, 1024])
QUICK = dict(scale=FULL["scale"], prefill=[1, 64, 1024], decode=[1, 8, 64], layers=2,
             model_prefill=[256], model_decode=[1, 16], repeats=5, orientation=[1, 16, 128, 256])


def targets(rows: list[dict], decode: list[dict], scale: LabScale, ceiling: float) -> list[dict]:
    """The issue's targets, each with the measured value and whether it holds (decode: decode_models rows)."""
    out = []
    best_pre = best_moe(rows, "prefill")
    peer = {r["tokens"]: r for r in rows if r["phase"] == "prefill" and r["variant"] == "hf-mixtral"}
    if peer:
        ratios = {n: peer[n]["median_ms"] / best_pre[n]["median_ms"] for n in peer if n in best_pre}

        def ratio(n: int) -> str:  # a slower median whose interquartile range meets the peer's is noted as such
            overlap = ratios[n] < 1 and best_pre[n]["q25_ms"] <= peer[n]["q75_ms"]
            return f"{n}: {ratios[n]:.2f}x" + (" (interquartile ranges overlap)" if overlap else "")

        out.append({"target": "best MoE backend no slower than the transformers peer at every token count",
                    "measured": ", ".join(ratio(n) for n in sorted(ratios)), "holds": all(v >= 1.0 for v in ratios.values())})
        big = [v for n, v in ratios.items() if n >= 1024]
        out.append({"target": ">= 1.3x faster than the peer at 1024+ tokens", "measured": ", ".join(f"{v:.2f}x" for v in big),
                    "holds": bool(big) and all(v >= 1.3 for v in big)})
    fractions = {n: r["gflop_per_s"] * 1e9 / ceiling for n, r in best_pre.items() if n >= 1024}
    out.append({"target": "prefill at 1024+ tokens reaches >= 80% of the matmul ceiling on active FLOPs",
                "measured": ", ".join(f"{n}: {100 * v:.1f}%" for n, v in sorted(fractions.items())),
                "holds": bool(fractions) and all(v >= 0.8 for v in fractions.values())})
    batch_one = [m for m in decode if m["batch"] == 1]
    if batch_one:
        goal = 0.8 * scale.n_experts / scale.top_k
        out.append({"target": f"batch-1 decode speedup over dense-total >= 0.8 x E/K = {goal:.1f}",
                    "measured": f"{batch_one[0]['measured']:.2f}x ({batch_one[0]['backend']})",
                    "holds": batch_one[0]["measured"] >= goal})
    return out


def run(config: dict, with_peer: bool = True) -> dict:
    scale = config["scale"]
    torch.manual_seed(0)
    check = check_equal(build_variants(scale, 0, with_peer), torch.randn(64, scale.d_model))
    if check > 1e-3:
        raise RuntimeError(f"MoE variants disagree (max |diff| {check:.2e}); not timing")
    ceiling, bandwidth = matmul_ceiling(), memory_bandwidth()
    rows = []
    jobs = [("prefill", config["prefill"]), ("decode", config["decode"])]
    total = sum(len(s) for _, s in jobs) + len(config["model_prefill"]) + len(config["model_decode"])
    with tqdm(total=total, desc="latency") as bar:
        for phase, sizes in jobs:
            for m in sweep(scale, phase, sizes, repeats=config["repeats"], with_peer=with_peer):
                rows.append(as_dict(m))
                bar.n = len({(r["phase"], r["tokens"]) for r in rows})
                bar.refresh()
        for phase, key in (("prefill", "model_prefill"), ("decode", "model_decode")):
            for size in config[key]:
                rows += [as_dict(m) for m in model_sweep(scale, config["layers"], phase, [size], repeats=config["repeats"])]
                bar.update(1)
    decode = decode_models(rows, scale, bandwidth, ceiling)
    return {
        "scale": asdict(scale), "weights_mb": scale.weight_mb(), "layers": config["layers"], "repeats": config["repeats"],
        "ceiling_gflops": ceiling / 1e9, "bandwidth_gbs": bandwidth / 1e9,
        "last_level_cache_mb": last_level_cache_bytes(torch.device("cpu")) / 2**20,
        "max_abs_diff_between_moe_variants": check, "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "expected_experts_read": {b: expected_experts_read(scale.n_experts, scale.top_k, b) for b in config["decode"]},
        "rows": rows, "decode_models": decode, "orientation": orientation_sweep(scale, config["orientation"]),
        "targets": targets(rows, decode, scale, ceiling),
        "departures": departure_text(decode, rows, scale, bandwidth, ceiling),
    }


def write(result: dict, name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    with open(RESULTS / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(result["rows"][0]))
        writer.writeheader()
        writer.writerows(result["rows"])
    scale = LabScale(**result["scale"])
    figures = [times_figure(result["rows"], "prefill", "Single layer, prefill", "tokens"),
               times_figure(result["rows"], "decode", "Single layer, decode step", "batch size"),
               speedup_figure(result["decode_models"], scale), roofline_figure(result["rows"], result["ceiling_gflops"]),
               times_figure(result["rows"], "model-prefill", f"Whole model ({result['layers']} layers), prefill", "tokens"),
               times_figure(result["rows"], "model-decode", f"Whole model ({result['layers']} layers), decode step", "batch size")]
    html = "".join(f.to_html(full_html=False, include_plotlyjs="cdn" if i == 0 else False) for i, f in enumerate(figures))
    report = summary(result)
    (RESULTS / f"{name}.md").write_text(report + "\n")
    (RESULTS / f"{name}.html").write_text(f"<html><body><h1>Latency lab: {result['machine']}</h1><pre>{escape(report)}</pre>"
                                          f"{html}</body></html>")


def summary(result: dict) -> str:
    """The run as markdown: setting, medians per variant, targets, the decode models and their departures."""
    variants = sorted({r["variant"] for r in result["rows"]})
    table = {(r["phase"], r["tokens"], r["variant"]): r for r in result["rows"]}
    lines = [f"# Latency lab: {result['machine']}", "",
             f"Scale {result['scale']}; fp32 weights (MB): {result['weights_mb']}; last-level cache "
             f"{result['last_level_cache_mb']:.0f} MB. Measured in this run: matmul ceiling {result['ceiling_gflops']:.0f} GFLOP/s, "
             f"read bandwidth {result['bandwidth_gbs']:.1f} GB/s. All MoE variants and the transformers peer agree to "
             f"{result['max_abs_diff_between_moe_variants']:.1e}. Medians of {result['repeats']} interleaved repetitions "
             "(ms per call, interquartile range in the CSV), caches flushed before every call.", "",
             "| phase | tokens | " + " | ".join(variants) + " |", "|---|---:|" + "---:|" * len(variants)]
    for phase, n in sorted({(r["phase"], r["tokens"]) for r in result["rows"]}):
        lines.append(f"| {phase} | {n} | " + " | ".join(
            f"{table[(phase, n, v)]['median_ms']:.3f}" if (phase, n, v) in table else "" for v in variants) + " |")
    lines += ["", "## Targets", ""] + [f"- [{'met' if t['holds'] else 'MISSED'}] {t['target']}: {t['measured']}"
                                       for t in result["targets"]]
    lines += ["", "## Decode: measured speedup over dense-total vs the models", "",
              "| batch | measured | fastest MoE backend | memory-bound ideal | roofline | MoE ms above K/E x dense-total |",
              "|---:|---:|---|---:|---:|---:|"]
    lines += [f"| {m['batch']} | {m['measured']:.2f}x | {m['backend']} | {m['memory_bound']:.2f}x | {m['roofline']:.2f}x | "
              f"{m['moe_excess_ms']:.2f} |" for m in result["decode_models"]]
    lines += ["", result["departures"], "", "## Product orientation (one expert's work in the sorted dispatch: SwiGLU + index_add_, caches flushed)", "",
              "| rows | x w^T (F.linear) ms | (w x^T)^T ms | models.experts.linear ms |", "|---:|---:|---:|---:|"]
    lines += [f"| {o['rows']} | {o['x_wT_ms']:.3f} | {o['w_xT_ms']:.3f} | {o['chosen_ms']:.3f} |" for o in result["orientation"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Dense vs MoE latency, measured side by side.")
    parser.add_argument("--quick", action="store_true", help="a smaller grid (under 2 minutes)")
    parser.add_argument("--no-peer", action="store_true", help="leave out the transformers peer")
    args = parser.parse_args()
    result = run(QUICK if args.quick else FULL, with_peer=not args.no_peer)
    write(result, "latency_quick" if args.quick else "latency")
    print(summary(result))


if __name__ == "__main__":
    main()
