"""`python -m benchmarks.latency [--quick]`: why MoE runs faster with more parameters, and when it stops.

Runs the latency lab's FULL or QUICK plan (lab/run.py, the same entry the Latency lab tab uses): the
single-layer variants (prefill over token counts, decode over batch sizes), whole models on the shared
backbone, the product orientations of models/products.py, and the machine's fp32 matmul ceiling and read
bandwidth, after checking the MoE backends and the transformers peer against each other. Adds the
targets and the departures from the decode models, and writes
benchmarks/results/latency{,_quick}.{md,csv,json,html} and prints the markdown report.
"""
from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from html import escape

from tqdm import tqdm

from backend.threads import use_free_cores
from lab.roofline import best_moe
from lab.run import FULL, QUICK, run
from lab.targets import targets, verdict_word
from lab.variants import DTYPES, LabScale
from paths import RESULTS
from viz.latency_views import departure_text, roofline_figure, speedup_figure, times_figure


def measure(quick: bool, with_peer: bool, dtype: str = "float32") -> dict:
    """The lab's run of the FULL or QUICK plan in `dtype` with a progress bar, plus targets and departures."""
    plan = QUICK if quick else FULL
    with tqdm(total=100, desc=f"latency {dtype}") as bar:
        def progress(fraction: float, desc: str) -> None:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(desc)  # refreshes the bar

        result = run(replace(plan, scale=replace(plan.scale, dtype=dtype), with_peer=with_peer), progress)
    scale = LabScale(**result["scale"])
    bandwidth, ceiling = result["bandwidth_gbs"] * 1e9, result["ceiling_gflops"] * 1e9
    return result | {"targets": targets(result["rows"], result["decode_models"], scale, ceiling),
                     "departures": departure_text(result["decode_models"], result["rows"], scale, bandwidth, ceiling)}


def write(result: dict, name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    with open(RESULTS / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k in result["rows"][0] if k != "samples_ms"], extrasaction="ignore")
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
    reliability = result["reliability"]
    verdict = ("reliable: other processes used {:.1f} of {} cores, every timing's IQR within {:.0f}% of its median".format(
        reliability["competing_cores"], reliability["cores"], 100 * reliability["worst_spread"]) if reliability["reliable"]
        else "UNRELIABLE: " + "; ".join(reliability["reasons"]))
    lines = [f"# Latency lab: {result['machine']}", "", f"Run {verdict}.", "",
             f"Scale {result['scale']}; fp32 weights (MB): {result['weights_mb']}; last-level cache "
             f"{result['last_level_cache_mb']:.0f} MB. Measured in this run: matmul ceiling {result['ceiling_gflops']:.0f} GFLOP/s, "
             f"read bandwidth {result['bandwidth_gbs']:.1f} GB/s. All MoE variants and the transformers peer agree to "
             f"{result['max_abs_diff_between_moe_variants']:.1e}. Medians of {result['repeats']} interleaved repetitions "
             "(ms per call, interquartile range in the CSV, every repetition in the JSON), caches flushed before every call.", "",
             "| phase | tokens | " + " | ".join(variants) + " |", "|---|---:|" + "---:|" * len(variants)]
    for phase, n in sorted({(r["phase"], r["tokens"]) for r in result["rows"]}):
        lines.append(f"| {phase} | {n} | " + " | ".join(
            f"{table[(phase, n, v)]['median_ms']:.3f}" if (phase, n, v) in table else "" for v in variants) + " |")
    lines += ["", "## Targets", ""] + [f"- [{verdict_word(t['holds'])}] {t['target']}: {t['measured']}"
                                       for t in result["targets"]]
    lines += ["", "## Decode: measured speedup over dense-total vs the models", "",
              "Measured: the median over repetitions of dense-total's time over the fastest MoE backend's in the same "
              "repetition, with the interquartile range of those paired ratios.", "",
              "| batch | measured | IQR | fastest MoE backend | memory-bound ideal | roofline | MoE ms minus K/E x dense-total ms (signed) |",
              "|---:|---:|---:|---|---:|---:|---:|"]
    lines += [f"| {m['batch']} | {m['measured']:.2f}x | {'{:.2f}-{:.2f}x'.format(*m['measured_iqr']) if m['measured_iqr'] else ''} | {m['backend']} | {m['memory_bound']:.2f}x | {m['roofline']:.2f}x | "
              f"{m['moe_excess_ms']:.2f} |" for m in result["decode_models"]]
    lines += ["", result["departures"], "", "## Product orientation (one expert's work in the sorted dispatch: SwiGLU + index_add_, caches flushed)", "",
              "| rows | x w^T (F.linear) ms | (w x^T)^T ms | models.products.linear ms |", "|---:|---:|---:|---:|"]
    lines += [f"| {o['rows']} | {o['x_wT_ms']:.3f} | {o['w_xT_ms']:.3f} | {o['chosen_ms']:.3f} |" for o in result["orientation"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Dense vs MoE latency, measured side by side.")
    parser.add_argument("--quick", action="store_true", help="a smaller grid (under 2 minutes)")
    parser.add_argument("--no-peer", action="store_true", help="leave out the transformers peer")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32",
                        help="weights and activations; bfloat16 writes latency{,_quick}_bf16.* and compares with float32")
    args = parser.parse_args()
    use_free_cores()
    result = measure(args.quick, not args.no_peer, args.dtype)
    name = ("latency_quick" if args.quick else "latency") + ("_bf16" if args.dtype == "bfloat16" else "")
    write(result, name)
    print(summary(result))
    fp32 = RESULTS / f"{name.removesuffix('_bf16')}.json"
    if args.dtype == "bfloat16" and fp32.is_file():
        comparison = dtype_comparison(json.loads(fp32.read_text()), result)
        (RESULTS / f"{name}_vs_fp32.md").write_text(comparison + "\n")
        print(comparison)


def dtype_comparison(fp32: dict, bf16: dict) -> str:
    """fp32 and bf16 runs side by side: the fastest MoE backend's time and the decode speedup per size."""
    lines = [f"# Latency lab: float32 vs bfloat16", "", f"float32: {fp32['machine']}; bfloat16: {bf16['machine']}. "
             f"Matmul ceiling {fp32['ceiling_gflops']:.0f} vs {bf16['ceiling_gflops']:.0f} GFLOP/s, read bandwidth "
             f"{fp32['bandwidth_gbs']:.1f} vs {bf16['bandwidth_gbs']:.1f} GB/s.", "",
             "| phase | tokens | fastest MoE fp32 (ms) | fastest MoE bf16 (ms) | bf16 speedup | dense-total fp32 (ms) | dense-total bf16 (ms) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    dense = {d: {(r["phase"], r["tokens"]): r["median_ms"] for r in run["rows"] if r["variant"] == "dense-total"}
             for d, run in (("fp32", fp32), ("bf16", bf16))}
    for phase in ("prefill", "decode"):
        a, b = best_moe(fp32["rows"], phase), best_moe(bf16["rows"], phase)
        for n in sorted(set(a) & set(b)):
            lines.append(f"| {phase} | {n} | {a[n]['median_ms']:.3f} | {b[n]['median_ms']:.3f} | {a[n]['median_ms'] / b[n]['median_ms']:.2f}x "
                         f"| {dense['fp32'].get((phase, n), float('nan')):.3f} | {dense['bf16'].get((phase, n), float('nan')):.3f} |")
    lines += ["", "| decode batch | MoE speedup over dense-total, fp32 | bf16 |", "|---:|---:|---:|"]
    bf16_models = {m["batch"]: m for m in bf16["decode_models"]}
    lines += [f"| {m['batch']} | {m['measured']:.2f}x | {bf16_models[m['batch']]['measured']:.2f}x |"
              for m in fp32["decode_models"] if m["batch"] in bf16_models]
    one = dense["fp32"].get(("decode", 1)), dense["bf16"].get(("decode", 1))
    if all(one):
        lines += ["", f"bf16 halves the bytes, so a memory-bound call could run up to 2x faster: dense-total's batch-1 decode "
                  f"runs {one[0] / one[1]:.2f}x faster in bf16 here, and the bf16 matmul ceiling is "
                  f"{100 * bf16['ceiling_gflops'] / fp32['ceiling_gflops']:.0f}% of the fp32 one: where the first is well under 2x "
                  "and the second under 100%, bf16 saves memory on this machine more than time. "
                  + ("" if fp32["reliability"]["reliable"] and bf16["reliability"]["reliable"] else
                     "At least one of the two runs is marked unreliable (see its report): read the ratios as rough.")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
