"""`python -m benchmarks.latency [--quick]`: why MoE runs faster with more parameters, and when it stops.

One run measures, interleaved and on the same inputs, the single-layer variants of models/latency_lab.py
(prefill over token counts, decode over batch sizes), whole models on the shared backbone, and the
machine's fp32 matmul ceiling; it checks the MoE backends and the transformers peer against each other
first. Writes benchmarks/results/latency{,_quick}.{csv,json,html} and prints a summary with the targets.
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from models.latency_lab import LabScale, as_dict, build_variants, check_equal, matmul_ceiling, model_sweep, sweep
from models.scale import expected_experts_read
from viz.latency_views import best_moe, roofline_figure, speedup_figure, times_figure

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks/results"
FULL = dict(scale=LabScale(1024, 1024, 8, 2), prefill=[1, 4, 16, 64, 256, 1024, 4096], decode=[1, 2, 4, 8, 16, 32, 64],
            layers=4, model_prefill=[16, 256, 1024], model_decode=[1, 8, 64], repeats=7)
QUICK = dict(scale=LabScale(512, 512, 8, 2), prefill=[1, 64, 1024], decode=[1, 8, 64], layers=2,
             model_prefill=[256], model_decode=[1, 16], repeats=5)


def targets(rows: list[dict], scale: LabScale, ceiling: float) -> list[dict]:
    """The issue's targets, each with the measured value and whether it holds."""
    out = []
    best_pre = best_moe(rows, "prefill")
    peer = {r["tokens"]: r for r in rows if r["phase"] == "prefill" and r["variant"] == "hf-mixtral"}
    if peer:
        ratios = {n: peer[n]["median_ms"] / best_pre[n]["median_ms"] for n in peer if n in best_pre}
        out.append({"target": "best MoE backend no slower than the transformers peer at every token count",
                    "measured": ", ".join(f"{n}: {v:.2f}x" for n, v in sorted(ratios.items())),
                    "holds": all(v >= 1.0 for v in ratios.values())})
        big = [v for n, v in ratios.items() if n >= 1024]
        out.append({"target": ">= 1.3x faster than the peer at 1024+ tokens", "measured": ", ".join(f"{v:.2f}x" for v in big),
                    "holds": bool(big) and all(v >= 1.3 for v in big)})
    fractions = {n: r["gflop_per_s"] * 1e9 / ceiling for n, r in best_pre.items() if n >= 1024}
    out.append({"target": "prefill at 1024+ tokens reaches >= 80% of the matmul ceiling on active FLOPs",
                "measured": ", ".join(f"{n}: {100 * v:.0f}%" for n, v in sorted(fractions.items())),
                "holds": bool(fractions) and all(v >= 0.8 for v in fractions.values())})
    dense = {r["tokens"]: r for r in rows if r["phase"] == "decode" and r["variant"] == "dense-total"}
    best_dec = best_moe(rows, "decode")
    if 1 in dense and 1 in best_dec:
        speedup = dense[1]["median_ms"] / best_dec[1]["median_ms"]
        goal = 0.8 * scale.n_experts / scale.top_k
        out.append({"target": f"batch-1 decode speedup over dense-total >= 0.8 x E/K = {goal:.1f}",
                    "measured": f"{speedup:.2f}x ({best_dec[1]['variant']})", "holds": speedup >= goal})
    return out


def run(config: dict, with_peer: bool = True) -> dict:
    scale = config["scale"]
    torch.manual_seed(0)
    check = check_equal(build_variants(scale, 0, with_peer), torch.randn(64, scale.d_model))
    if check > 1e-3:
        raise RuntimeError(f"MoE variants disagree (max |diff| {check:.2e}); not timing")
    ceiling = matmul_ceiling()
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
    return {
        "scale": asdict(scale), "weights_mb": scale.weight_mb(), "layers": config["layers"], "repeats": config["repeats"],
        "ceiling_gflops": ceiling / 1e9, "max_abs_diff_between_moe_variants": check, "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "expected_experts_read": {b: expected_experts_read(scale.n_experts, scale.top_k, b) for b in config["decode"]},
        "rows": rows, "targets": targets(rows, scale, ceiling),
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
               speedup_figure(result["rows"], scale), roofline_figure(result["rows"], result["ceiling_gflops"]),
               times_figure(result["rows"], "model-prefill", f"Whole model ({result['layers']} layers), prefill", "tokens"),
               times_figure(result["rows"], "model-decode", f"Whole model ({result['layers']} layers), decode step", "batch size")]
    html = "".join(f.to_html(full_html=False, include_plotlyjs="cdn" if i == 0 else False) for i, f in enumerate(figures))
    (RESULTS / f"{name}.html").write_text(f"<html><body><h1>Latency lab: {result['machine']}</h1>{html}</body></html>")


def summary(result: dict) -> str:
    lines = [f"scale {result['scale']}, weights (MB): {result['weights_mb']}, ceiling {result['ceiling_gflops']:.0f} GFLOP/s, "
             f"variants agree to {result['max_abs_diff_between_moe_variants']:.1e}", "",
             f"{'phase':<14}{'tokens':>7}  " + "".join(f"{v:>14}" for v in sorted({r['variant'] for r in result['rows']}))]
    keys = sorted({(r["phase"], r["tokens"]) for r in result["rows"]})
    variants = sorted({r["variant"] for r in result["rows"]})
    table = {(r["phase"], r["tokens"], r["variant"]): r["median_ms"] for r in result["rows"]}
    for phase, n in keys:
        lines.append(f"{phase:<14}{n:>7}  " + "".join(
            f"{table[(phase, n, v)]:>11.3f} ms" if (phase, n, v) in table else f"{'':>14}" for v in variants))
    lines.append("")
    lines += [f"[{'ok' if t['holds'] else 'MISSED'}] {t['target']}: {t['measured']}" for t in result["targets"]]
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
