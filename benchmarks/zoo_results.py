"""`python -m benchmarks.zoo_results`: the zoo's results table, written to benchmarks/results/zoo.md.
`--runs DIR --out NAME.md` tabulates any directory of training runs the same way (every subdirectory
with a config.json and an eval.json, e.g. a zoo being retrained) and leaves out the load timing.

Per model: total and active parameters per token (config accounting, checked against the loaded
module), forward FLOPs per token, tokens trained, held-out loss per domain and overall in nats per token
(from eval.json), perplexity, and bits per byte (the same loss per UTF-8 byte of the scored tokens, so a
different tokenizer compares fairly); beside them the Kneser-Ney unigram, bigram and trigram baselines
counted on the training split and scored on the same targets; and the time to load every member with
the tokenizer in a fresh interpreter (median of 5 runs). Training wall times are not reported: the
shipped runs were timed on a machine shared with other work.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

from backend.model_card import balancing, balancing_groups, seed_losses
from backend.timing import machine_description
from corpus.streams import eval_windows, target_bytes
from models.checkpoint import load_checkpoint
from models.config import ModelConfig
from models.params import config_flops, count_params
from models.zoo import ZOO, shared_tokenizer
from paths import EVAL_DIR, RESULTS, ROOT, SEED_SPREAD_FULL, TOKENIZER, TRAIN_DIR, zoo_dir
from training.ngram import KneserNey
from training.train import load_streams
from viz.tables import over_seeds

OUT = RESULTS / "zoo.md"
BASELINES = RESULTS / "zoo_baselines.json"  # the n-gram rows, for the page's model card
CONTEXT = 256
LOAD_SNIPPET = (
    "import time; t=time.perf_counter(); from models.zoo import zoo_names, load_member; "
    "[load_member(n) for n in zoo_names()]; print(time.perf_counter()-t)"
)


def load_seconds(repeats: int = 5) -> list[float]:
    """Wall time to import the zoo module and load every member, each run in a fresh interpreter."""
    return [
        float(subprocess.run([sys.executable, "-c", LOAD_SNIPPET], cwd=ROOT, check=True, capture_output=True, text=True).stdout)
        for _ in range(repeats)
    ]


def bits_per_byte(losses: dict[str, dict], byte_counts: dict[str, int]) -> dict[str, float]:
    """{domain: {"loss", "tokens"}} in nats per token -> bits per byte per domain and overall."""
    out = {d: losses[d]["loss"] * losses[d]["tokens"] / byte_counts[d] / math.log(2) for d in byte_counts}
    total_nats = sum(losses[d]["loss"] * losses[d]["tokens"] for d in byte_counts)
    return out | {"overall": total_nats / sum(byte_counts.values()) / math.log(2)}


def baselines(eval_streams: dict) -> dict[str, dict]:
    """Kneser-Ney n-grams on the training split, scored on the held-out targets: {name: {domain: {loss, tokens}}}."""
    train, _ = load_streams(TRAIN_DIR, EVAL_DIR, TOKENIZER, shared_tokenizer().get_vocab_size())
    stream, out = train.tolist(), {}
    for order, name in ((1, "unigram"), (2, "Kneser-Ney bigram"), (3, "Kneser-Ney trigram")):
        model = KneserNey(stream, order, shared_tokenizer().get_vocab_size())
        scored = {d: model.window_loss(eval_windows(s, CONTEXT)) for d, s in eval_streams.items()}
        result = {d: {"loss": total / n, "tokens": n} for d, (total, n) in scored.items()}
        total = sum(t for t, _ in scored.values())
        out[name] = result | {"overall": {"loss": total / sum(n for _, n in scored.values()), "tokens": sum(n for _, n in scored.values())}}
    return out


def run_names(directory: Path) -> list[str]:
    """The runs in directory: the zoo's members in zoo order, then any others by name."""
    present = {p.parent.name for p in directory.glob("*/eval.json") if (p.parent / "config.json").is_file()}
    return [s.name for s in ZOO if s.name in present] + sorted(present - {s.name for s in ZOO})


def table(directory: Path) -> tuple[str, dict[str, dict]]:
    """The markdown table of the runs in directory and the n-gram baselines beside them; and the baselines."""
    _, eval_streams = load_streams(TRAIN_DIR, EVAL_DIR, TOKENIZER, shared_tokenizer().get_vocab_size())
    domains = list(eval_streams)
    byte_counts = {d: target_bytes(s, shared_tokenizer(), CONTEXT) for d, s in eval_streams.items()}
    header = ["model", "total params", "active params/token", f"FLOPs/token (context {CONTEXT})", "tokens trained"]
    header += [f"{d}: nats/token" for d in domains] + ["overall nats/token", "perplexity", "bits/byte"]
    seeds = seed_losses(SEED_SPREAD_FULL) if directory == zoo_dir() else {}
    if seeds:
        header.append("overall over seeds: mean ± std (seeds)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    balanced = []  # (name, balancing parts) of every run
    for name in run_names(directory):
        info = json.loads((directory / name / "eval.json").read_text())
        held_out = info["held_out"]
        config = ModelConfig.from_dict(json.loads((directory / name / "config.json").read_text()))
        report = count_params(config)
        module_total = sum(p.numel() for p in load_checkpoint(directory / name).parameters())
        assert module_total == report.total.total, name
        overall = held_out["overall"]["loss"]
        cells = [name, f"{report.total.total:,}", f"{report.active.total:,}", f"{config_flops(config, CONTEXT) / 1e6:.2f} M",
                 f"{info['train']['tokens_seen']:,}"]
        cells += [f"{held_out[d]['loss']:.3f}" for d in domains]
        cells += [f"{overall:.3f}", f"{math.exp(overall):.1f}", f"{bits_per_byte(held_out, byte_counts)['overall']:.3f}"]
        if seeds:
            cells.append(over_seeds(seeds.get(name, {})))
        lines.append("| " + " | ".join(cells) + " |")
        balanced.append((name, balancing(config)))
    ngrams = baselines(eval_streams)
    for name, held_out in ngrams.items():
        overall = held_out["overall"]["loss"]
        cells = [name, "", "", "", "training split"] + [f"{held_out[d]['loss']:.3f}" for d in domains]
        cells += [f"{overall:.3f}", f"{math.exp(overall):.1f}", f"{bits_per_byte(held_out, byte_counts)['overall']:.3f}"]
        lines.append("| " + " | ".join(cells + [""] * bool(seeds)) + " |")
    recipes = balancing_groups(balanced, lambda t, v: t.format(**v))
    lines += ["", "Load balancing in training: " + "; ".join(f"{', '.join(names)}: {recipe}" for recipe, names in recipes.items()) + "."]
    if seeds:
        lines += ["", f"Over seeds: the same member and recipe retrained with other seeds (initialisation and batch order; the "
                  f"shipped checkpoint is seed 1234), from `{SEED_SPREAD_FULL.with_suffix('.md').name}`, where the gaps between "
                  "members are tested against this spread."]
    lines += ["", "Held-out bytes scored per domain: " + ", ".join(f"{d} {n:,}" for d, n in byte_counts.items()) + "."]
    return "\n".join(lines), ngrams


def main() -> None:
    parser = argparse.ArgumentParser(description="The zoo's (or a directory of runs') held-out results table.")
    parser.add_argument("--runs", type=Path, help="a directory of training runs (default: the zoo, with load timing)")
    parser.add_argument("--out", default=OUT.name, help="file name in benchmarks/results/")
    args = parser.parse_args()
    body, ngrams = table(args.runs or zoo_dir())
    if args.runs:
        text = (f"# Training runs in {args.runs.name}: held-out results\n\nGenerated by `python -m benchmarks.zoo_results "
                f"--runs {args.runs} --out {args.out}`, scored as benchmarks/results/zoo.md is (same held-out files, "
                f"context {CONTEXT}); n-gram baselines counted on the current training split.\n\n{body}\n")
        (RESULTS / args.out).write_text(text)
        print(text)
        return
    seconds = load_seconds()
    text = (
        "# Model zoo: held-out results\n\n"
        "Generated by `python -m benchmarks.zoo_results`. Loss is mean next-token cross-entropy in nats per "
        "token on the committed held-out split (`assets/eval/`), never trained on, in windows of the models' "
        f"context ({CONTEXT} tokens); perplexity = exp(overall loss); bits/byte = the same loss per UTF-8 byte of "
        "the scored tokens / ln 2. Active parameters count every weight a token's forward pass uses (embedding and "
        "tied head included). The n-gram baselines are counted on the training split and predict each target "
        "from at most the 1 or 2 tokens before it in its window.\n\n"
        f"{body}\n\n"
        f"Loading all {len(ZOO)} members with the tokenizer in a fresh interpreter: median "
        f"{statistics.median(seconds):.2f} s (min {min(seconds):.2f} s, max {max(seconds):.2f} s, {len(seconds)} runs) on "
        f"{machine_description()}.\n"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.out).write_text(text)
    BASELINES.write_text(json.dumps({name: {d: v["loss"] for d, v in held_out.items()} for name, held_out in ngrams.items()},
                                    indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
