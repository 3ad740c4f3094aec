"""`python -m benchmarks.real_models [--shapes ...] [--layers N] [--tokens 256 512] [--no-page]`: real MoEs' shapes on
this machine, as a user would run them.

For each shape (OLMoE-1B-7B and Granite-3.0-1B-A400M, from their shipped reference configs in
assets/reference_configs/), builds the model in bf16 with random weights (speed does not depend on their values; nothing
is downloaded), optionally with fewer decoder layers (each keeps its real shape), and:
1. **forward**: times in one process, on the same tensors, transformers' own forward and ours (its MoE blocks routed
   through this project's router and dispatch, models/hf_routed.py, on views of the same weights), interleaved by
   swapping the blocks between calls, with the bf16 and float32 matmul ceilings measured before and after for the
   reliability verdict. Active FLOPs per forward come from
   the calculator (models/params.arch_flops).
2. **page** (unless --no-page): saves the checkpoint with the project's tokenizer, starts `python app.py --model DIR
   --concurrency 1` (start-up: until the page answers), and times through the JSON API what the page runs: an analysis
   of a --page-tokens text (the first call apart, then the median), /ablate (expert 0 off in every layer), /force (every
   position onto experts 0..K-1 in every layer), the top-K sweep (a spread of K) and the importance heatmap (every
   expert of every layer switched off in turn: L x E ablations, so on a --importance-tokens text), with the server's
   resident memory after the first analysis and at its peak.
Writes benchmarks/results/real_models.{json,md} (--output: another name).
"""
from __future__ import annotations

import argparse
import functools
import gc
import json
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

from backend.reliability import calibration_drift, relative_spread, watch
from backend.threads import use_free_cores
from backend.timing import machine_description, time_interleaved
from benchmarks.common import examples_text, memory_gib, seconds, write_results
from benchmarks.server import launch, stop
from corpus.tokenizer import EOS
from lab.measure import matmul_ceiling
from models.hf_families import FAMILIES
from models.hf_routed import decoder_layers, route_moe_blocks
from models.params import arch_flops, breakdown
from paths import REFERENCE_CONFIGS, TOKENIZER
from scale.architectures import parse_hf_config

SHAPES = ("olmoe-1b-7b", "granite-3.0-1b-a400m")
TEXT_EXAMPLES = ("english", "russian", "python")  # the analysed text: these shipped examples, in turn


def build(reference: str, layers: int | None) -> tuple[torch.nn.Module, dict]:
    """transformers' model of a reference config in bf16 with random weights (its own init), `layers` of its decoder
    layers (all: None)."""
    config = json.loads((REFERENCE_CONFIGS / f"{reference}.json").read_text())
    if layers:
        config["num_hidden_layers"] = layers
    hf_config = AutoConfig.for_model(**{k: v for k, v in config.items() if k not in ("architectures", "transformers_version")})
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(hf_config, dtype=torch.bfloat16).eval()
    return model, config


def switcher(model: torch.nn.Module, config: dict):
    """Route the model's MoE blocks through this project's router and dispatch (views of the same weights, in place);
    -> use(ours: bool), which puts our blocks or transformers' own back in the decoder layers, so that the two forwards
    can be timed in turn on the same tensors (two copies would not fit in memory at full size)."""
    blocks = route_moe_blocks(model, config)
    attribute = FAMILIES[config["model_type"]].block
    layers = [layer for layer in decoder_layers(model, config["model_type"]) if getattr(layer, attribute) in blocks]

    def use(ours: bool) -> None:
        for layer, block in zip(layers, blocks, strict=True):
            setattr(layer, attribute, block if ours else block.hf_block)
    return use


def ceilings() -> dict[str, float]:
    return {name: matmul_ceiling((1024, 2048), 3, "cpu", dtype) for name, dtype in (("float32", torch.float32),
                                                                                       ("bfloat16", torch.bfloat16))}


def forward_comparison(model: torch.nn.Module, config: dict, token_counts: list[int], repeats: int) -> dict:
    """transformers' forward and ours on the same weights, interleaved (order rotating, one warm-up round: for ours it
    times the product forms once per shape and row count)."""
    arch = parse_hf_config(config)
    ids = torch.randint(0, config["vocab_size"], (1, max(token_counts)), generator=torch.Generator().manual_seed(1))
    use = switcher(model, config)
    forwards = {"ours": lambda x: (use(True), model(input_ids=x)), "transformers": lambda x: (use(False), model(input_ids=x))}
    before = ceilings()
    with watch() as watched:
        times = {n: time_interleaved(forwards, ids[:, :n], repeats, warmup=1) for n in token_counts}
        after = ceilings()
    ours, theirs = ({n: times[n][name] for n in token_counts} for name in ("ours", "transformers"))
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
    return {"repeats": repeats, "threads": torch.get_num_threads(),
            "ceiling_gflops": {"before": {k: v / 1e9 for k, v in before.items()}, "after": {k: v / 1e9 for k, v in after.items()},
                               "best": best / 1e9},
            "rows": rows, "reliability": asdict(reliability)}


def tokenizer() -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER), eos_token=EOS, bos_token=EOS)


def page_timings(directory: Path, top_k: int, tokens: int, importance_tokens: int, repeats: int) -> dict:
    """Start the app with the checkpoint and time the page's calls through its JSON API (one user, both cores)."""
    from gradio_client import Client
    text, short = (examples_text(n, TEXT_EXAMPLES, "\n\n") for n in (tokens, importance_tokens))
    name = directory.name
    with watch(children=True) as watched, open(directory.parent / "server.log", "w") as log:
        start = time.perf_counter()
        proc, url = launch(["--model", str(directory), "--concurrency", "1"], log=log, timeout=1800)
        startup = time.perf_counter() - start
        try:
            client = Client(url, verbose=False)
            analyse = lambda: client.predict(text, 8, top_k, 0.0, 0.0, 0, False, name, "", api_name="/analyze")  # noqa: E731
            timed = functools.partial(seconds, warmup=False)  # no untimed call: the first analysis is its own row
            first = timed(analyse, 1)
            analysed = len(analyse()["tokens"])
            after_first = memory_gib(proc.pid)
            calls = {
                "analysis": timed(analyse, repeats),
                "ablate": timed(lambda: client.predict(text, 8, top_k, -1, [0], "reroute", name, api_name="/ablate"), repeats),
                "force": timed(lambda: client.predict(text, 8, top_k, list(range(top_k)), 0, -1, -1, name, api_name="/force"),
                               repeats),
                "top_k_sweep": timed(lambda: client.predict(text, 8, False, name, False, api_name="/top_k_sweep"), 1),
                "importance": timed(lambda: client.predict(short, 8, top_k, "reroute", name, api_name="/importance"), 1),
            }
            peak = memory_gib(proc.pid)
        finally:
            stop(proc)
    reliability = watched.verdict(relative_spread(s) for s in calls.values())
    return {"startup_s": startup, "text_tokens": analysed, "importance_tokens": importance_tokens, "repeats": repeats,
            "first_analysis_s": first[0], "calls_s": calls, "medians_s": {k: statistics.median(v) for k, v in calls.items()},
            "memory_after_first_analysis": after_first, "memory_at_end": peak, "reliability": asdict(reliability)}


def run_shape(reference: str, layers: int | None, token_counts: list[int], repeats: int, page: bool,
              page_tokens: int, importance_tokens: int) -> dict:
    model, config = build(reference, layers)
    sizes = breakdown(parse_hf_config(config))
    result = {"model": reference, "layers": config["num_hidden_layers"],
              "of_layers": json.loads((REFERENCE_CONFIGS / f"{reference}.json").read_text())["num_hidden_layers"],
              "dtype": "bfloat16", "total_params": sizes.total, "top_k": config.get("num_experts_per_tok")}
    with tempfile.TemporaryDirectory(prefix="real-shape-") as tmp:
        directory = Path(tmp) / reference
        if page:
            model.save_pretrained(directory, max_shard_size="2GB")  # before routing: the checkpoint as a hub model has it
            tokenizer().save_pretrained(directory)
        result["forward"] = forward_comparison(model, config, token_counts, repeats)
        del model
        gc.collect()  # the server loads its own copy
        if page:
            result["page"] = page_timings(directory, result["top_k"], page_tokens, importance_tokens, max(2, repeats - 1))
    return result


def verdict_words(reliability: dict) -> str:
    return "reliable" if reliability["reliable"] else "UNRELIABLE: " + "; ".join(reliability["reasons"])


def summary(result: dict) -> str:
    lines = [f"# Real-model shapes: {result['machine']}", ""]
    for shape in result["shapes"]:
        forward, ceiling = shape["forward"], shape["forward"]["ceiling_gflops"]
        lines += [f"## {shape['model']} ({shape['layers']} of its {shape['of_layers']} layers, each at its real shape, "
                  f"{shape['total_params'] / 1e9:.2f} B parameters in this build)", "",
                  f"{shape['dtype']} weights, random values, {forward['threads']} threads, median of {forward['repeats']} "
                  f"forwards; run {verdict_words(forward['reliability'])}. Matmul ceiling (best of bf16 and fp32, before "
                  f"and after): {ceiling['best']:.0f} GFLOP/s (float32 {ceiling['before']['float32']:.0f} / "
                  f"{ceiling['after']['float32']:.0f}, bfloat16 {ceiling['before']['bfloat16']:.0f} / "
                  f"{ceiling['after']['bfloat16']:.0f}).", "",
                  "| tokens | ours (s) | transformers (s) | transformers / ours | active GFLOP | ours, share of ceiling | "
                  "transformers, share of ceiling |", "|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {x['tokens']} | {x['ours_median_s']:.2f} ({min(x['ours_s']):.2f}-{max(x['ours_s']):.2f}) | "
                  f"{x['transformers_median_s']:.2f} ({min(x['transformers_s']):.2f}-{max(x['transformers_s']):.2f}) | "
                  f"{x['speedup_over_transformers']:.2f}x | {x['active_gflop']:.0f} | {100 * x['ours_share_of_ceiling']:.0f}% | "
                  f"{100 * x['transformers_share_of_ceiling']:.0f}% |" for x in forward["rows"]]
        page = shape.get("page")
        if page:
            memory, peak = page["memory_after_first_analysis"], page["memory_at_end"]
            lines += ["", f"Through the page's JSON API (`python app.py --model DIR --concurrency 1`, one user): start-up "
                      f"{page['startup_s']:.0f} s until the page answers; server resident memory {memory['resident_gib']:.1f} "
                      f"GiB after the first analysis, peak {peak['peak_gib']:.1f} GiB; run "
                      f"{verdict_words(page['reliability'])}.", "",
                      "| call | text (tokens) | median (s) | min-max (s) | runs |", "|---|---:|---:|---:|---:|",
                      f"| first analysis (warm-up included) | {page['text_tokens']} | {page['first_analysis_s']:.1f} | | 1 |"]
            for call, samples in page["calls_s"].items():
                tokens = page["importance_tokens"] if call == "importance" else page["text_tokens"]
                lines.append(f"| {call} | {tokens} | {statistics.median(samples):.1f} | {min(samples):.1f}-{max(samples):.1f} "
                             f"| {len(samples)} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Real MoE shapes: our forward vs transformers', the page's calls, memory.")
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--layers", type=int, default=None, help="decoder layers to build (default: all)")
    parser.add_argument("--tokens", type=int, nargs="+", default=[256, 512], help="forward lengths to time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-page", action="store_true", help="time the forwards only, not the app's calls")
    parser.add_argument("--page-tokens", type=int, default=256, help="length of the analysed text")
    parser.add_argument("--importance-tokens", type=int, default=24,
                        help="length of the importance heatmap's text (it runs layers x experts ablations)")
    parser.add_argument("--output", default="real_models", help="results file stem in benchmarks/results/")
    args = parser.parse_args()
    use_free_cores()
    shapes = [run_shape(s, args.layers, args.tokens, args.repeats, not args.no_page, args.page_tokens, args.importance_tokens)
              for s in args.shapes]
    result = {"machine": machine_description(), "shapes": shapes}
    write_results(args.output, result, summary(result))


if __name__ == "__main__":
    main()
