"""`python -m benchmarks.real_models [--layers N] [--tokens 256 512]`: a real MoE's shape on this CPU, our routed
forward against transformers' own, and both against the machine's matmul ceiling.

Builds OLMoE-1B-7B in bf16 from its shipped reference config (assets/reference_configs/olmoe-1b-7b.json) with random
weights (speed does not depend on their values; nothing is downloaded), optionally with fewer of its 16 layers (each
layer keeps its real shape), and times in one process, on the same tensors: transformers' forward, then, after
routing its MoE blocks through this project's router and dispatch (models/hf_routed.py, views of the same weights),
ours; the two are timed in turn, not interleaved (routing replaces the blocks in place: two copies would not fit in
memory at full size), with the bf16 and float32 matmul ceilings measured before and after for the reliability
verdict. Active FLOPs per forward come from the calculator (models/params.arch_flops). Writes
benchmarks/results/real_models.{json,md}.

Part of issue #34's benchmark: the page analysis, interventions, start-up and resident memory are not timed yet.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from backend.reliability import calibration_drift, relative_spread, watch
from backend.threads import use_free_cores
from backend.timing import machine_description
from lab.measure import matmul_ceiling
from models.hf_routed import route_moe_blocks
from models.params import arch_flops
from paths import REFERENCE_CONFIGS, RESULTS
from scale.architectures import parse_hf_config

REFERENCE = "olmoe-1b-7b"


def build(layers: int | None) -> tuple[torch.nn.Module, dict]:
    """transformers' OLMoE in bf16 with random weights (its own init), `layers` of its decoder layers (all: None)."""
    config = json.loads((REFERENCE_CONFIGS / f"{REFERENCE}.json").read_text())
    if layers:
        config["num_hidden_layers"] = layers
    hf_config = AutoConfig.for_model(**{k: v for k, v in config.items() if k not in ("architectures", "transformers_version")})
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(hf_config, dtype=torch.bfloat16).eval()
    return model, config


@torch.no_grad()
def seconds(forward, ids: torch.Tensor, repeats: int) -> list[float]:
    forward(ids)  # warm-up at the same length (for ours this times the product forms once per shape and row count)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(ids)
        out.append(time.perf_counter() - start)
    return out


def ceilings() -> dict[str, float]:
    return {name: matmul_ceiling((1024, 2048), 3, "cpu", dtype) for name, dtype in (("float32", torch.float32),
                                                                                       ("bfloat16", torch.bfloat16))}


def run(layers: int | None, token_counts: list[int], repeats: int) -> dict:
    model, config = build(layers)
    arch = parse_hf_config(config)
    ids = torch.randint(0, config["vocab_size"], (1, max(token_counts)), generator=torch.Generator().manual_seed(1))
    before = ceilings()
    with watch() as watched:
        theirs = {n: seconds(lambda x: model(input_ids=x).logits, ids[:, :n], repeats) for n in token_counts}
        route_moe_blocks(model, config)  # our routing on views of the same weights, in place
        ours = {n: seconds(lambda x: model(input_ids=x).logits, ids[:, :n], repeats) for n in token_counts}
        after = ceilings()
    best = max(max(b, a) for b, a in zip(before.values(), after.values()))
    rows = []
    for n in token_counts:
        flops = arch_flops(arch, n) * n  # active forward FLOPs of n tokens
        t_ours, t_theirs = statistics.median(ours[n]), statistics.median(theirs[n])
        rows.append({"tokens": n, "ours_s": ours[n], "transformers_s": theirs[n], "ours_median_s": t_ours,
                     "transformers_median_s": t_theirs, "speedup_over_transformers": t_theirs / t_ours,
                     "active_gflop": flops / 1e9, "ours_share_of_ceiling": flops / t_ours / best,
                     "transformers_share_of_ceiling": flops / t_theirs / best})
    drift = calibration_drift(before.values(), after.values())
    reliability = watched.verdict([relative_spread(s) for r in rows for s in (r["ours_s"], r["transformers_s"])], drift)
    return {"machine": machine_description(), "model": REFERENCE, "layers": config["num_hidden_layers"], "of_layers": 16,
            "dtype": "bfloat16", "repeats": repeats, "threads": torch.get_num_threads(),
            "ceiling_gflops": {"before": {k: v / 1e9 for k, v in before.items()}, "after": {k: v / 1e9 for k, v in after.items()},
                               "best": best / 1e9},
            "rows": rows, "reliability": asdict(reliability)}


def summary(result: dict) -> str:
    r = result["reliability"]
    verdict = "reliable" if r["reliable"] else "UNRELIABLE: " + "; ".join(r["reasons"])
    ceiling = result["ceiling_gflops"]
    lines = [f"# Real-model shapes: {result['machine']}", "",
             f"{result['model']} ({result['layers']} of its {result['of_layers']} layers, each at its real shape), "
             f"{result['dtype']} weights, random values, {result['threads']} threads, median of {result['repeats']} "
             f"forwards; run {verdict}. Matmul ceiling (best of bf16 and fp32, before and after): {ceiling['best']:.0f} "
             f"GFLOP/s (before {ceiling['before']}, after {ceiling['after']}).", "",
             "| tokens | ours (s) | transformers (s) | transformers / ours | active GFLOP | ours, share of ceiling | "
             "transformers, share of ceiling |", "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {x['tokens']} | {x['ours_median_s']:.2f} | {x['transformers_median_s']:.2f} | "
              f"{x['speedup_over_transformers']:.2f}x | {x['active_gflop']:.0f} | {100 * x['ours_share_of_ceiling']:.0f}% | "
              f"{100 * x['transformers_share_of_ceiling']:.0f}% |" for x in result["rows"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="A real MoE's shape: our routed forward vs transformers' and the ceiling.")
    parser.add_argument("--layers", type=int, default=None, help="decoder layers to build (default: all 16)")
    parser.add_argument("--tokens", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    use_free_cores()
    result = run(args.layers, args.tokens, args.repeats)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "real_models.json").write_text(json.dumps(result, indent=1) + "\n")
    report = summary(result)
    (RESULTS / "real_models.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
