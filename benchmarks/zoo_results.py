"""`python -m benchmarks.zoo_results`: the zoo's results table, written to benchmarks/results/zoo.md.

Per model: total and active parameters per token (config accounting, checked against the loaded
module), forward FLOPs per token, tokens trained, held-out loss per domain and overall in nats per token
(from eval.json), perplexity, and bits per byte (the same loss per UTF-8 byte of the scored tokens, so a
different tokenizer compares fairly); beside them the Kneser-Ney unigram, bigram and trigram baselines
counted on the training split and scored on the same targets; and the time to load every member with
the tokenizer in a fresh interpreter (median of 5 runs). Training wall times are not reported: the
shipped runs were timed on a machine shared with other work.
"""
from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys

from corpus.streams import eval_windows, target_bytes
from models.params import config_flops, count_params
from models.zoo import ZOO, load_member, shared_tokenizer
from paths import EVAL_DIR, RESULTS, ROOT, TOKENIZER, TRAIN_DIR, zoo_dir
from training.ngram import KneserNey
from training.train import load_streams

OUT = RESULTS / "zoo.md"
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


def table() -> str:
    _, eval_streams = load_streams(TRAIN_DIR, EVAL_DIR, TOKENIZER, shared_tokenizer().get_vocab_size())
    domains = list(eval_streams)
    byte_counts = {d: target_bytes(s, shared_tokenizer(), CONTEXT) for d, s in eval_streams.items()}
    header = ["model", "total params", "active params/token", f"FLOPs/token (context {CONTEXT})", "tokens trained"]
    header += [f"{d}: nats/token" for d in domains] + ["overall nats/token", "perplexity", "bits/byte"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for spec in ZOO:
        info = json.loads((zoo_dir() / spec.name / "eval.json").read_text())
        held_out = info["held_out"]
        report = count_params(spec.config)
        module_total = sum(p.numel() for p in load_member(spec.name).model.parameters())
        assert module_total == report.total.total, spec.name
        overall = held_out["overall"]["loss"]
        cells = [spec.name, f"{report.total.total:,}", f"{report.active.total:,}", f"{config_flops(spec.config, CONTEXT) / 1e6:.2f} M",
                 f"{info['train']['tokens_seen']:,}"]
        cells += [f"{held_out[d]['loss']:.3f}" for d in domains]
        cells += [f"{overall:.3f}", f"{math.exp(overall):.1f}", f"{bits_per_byte(held_out, byte_counts)['overall']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    for name, held_out in baselines(eval_streams).items():
        overall = held_out["overall"]["loss"]
        cells = [name, "", "", "", "training split"] + [f"{held_out[d]['loss']:.3f}" for d in domains]
        cells += [f"{overall:.3f}", f"{math.exp(overall):.1f}", f"{bits_per_byte(held_out, byte_counts)['overall']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Held-out bytes scored per domain: " + ", ".join(f"{d} {n:,}" for d, n in byte_counts.items()) + "."]
    return "\n".join(lines)


def main() -> None:
    body = table()
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
        f"{statistics.median(seconds):.2f} s (min {min(seconds):.2f} s, max {max(seconds):.2f} s, {len(seconds)} runs).\n"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
