"""`python -m benchmarks.interventions`: how fast the Interventions tab answers.

Times, on a 256-token text from the shipped examples, after one warm-up: the full expert-importance
heatmap of moe-8 (4 layers x 8 experts = 32 ablations as batch rows) and one ablation, each the median
of `--runs` runs with min and max (target: the heatmap under 2 s, so it can run on every change).
Writes benchmarks/results/interventions.{json,md}; names the machine and its load average.
"""
from __future__ import annotations

import argparse
import os
import statistics

from backend.analysis import Settings
from backend.interventions import ablate, expert_importance
from backend.threads import use_free_cores
from backend.timing import machine_description
from benchmarks.common import examples_text, seconds, write_results

TARGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description="Interventions: time the importance heatmap and one ablation.")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    use_free_cores()
    text, settings = examples_text(256), Settings(n_experts=8, top_k=2)
    load_before = os.getloadavg()[0]
    timings = {"importance heatmap (moe-8, 32 ablations)": seconds(lambda: expert_importance(text, settings), args.runs),
               "one ablation (moe-8, expert 0 in every layer)": seconds(lambda: ablate(text, settings, None, [0]), args.runs)}
    result = {"machine": machine_description(), "tokens": 256, "runs": args.runs, "load_average_1min": [load_before, os.getloadavg()[0]],
              "seconds": {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "samples": v} for k, v in timings.items()}}
    heatmap = result["seconds"]["importance heatmap (moe-8, 32 ablations)"]["median"]
    result["target"] = {"what": f"importance heatmap under {TARGET_S} s", "measured_s": heatmap, "holds": heatmap < TARGET_S}
    lines = ["# Interventions: speed", "", f"Machine: {result['machine']}. 1-minute load average before / after: "
             f"{load_before:.2f} / {result['load_average_1min'][1]:.2f}. Text: 256 tokens of the shipped examples.", "",
             "| what | median (s) | min (s) | max (s) | runs |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} | {v['median']:.3f} | {v['min']:.3f} | {v['max']:.3f} | {args.runs} |" for k, v in result["seconds"].items()]
    lines += ["", f"- [{'met' if result['target']['holds'] else 'MISSED'}] {result['target']['what']}: {heatmap:.3f} s (median)"]
    write_results("interventions", result, "\n".join(lines))


if __name__ == "__main__":
    main()
