"""Problems of MoE training, reproduced: recorded runs of 8-expert variants that differ only in how
(or whether) they balance the load across experts.

`python -m training.balancing --train` trains every variant on the zoo's corpus, tokenizer and backbone
(moe-8: 8 experts of width 256, top-2 unless stated) with the same data, schedule and seed, and
writes assets/balancing/<variant>/{config.json, train_log.csv, eval.json} (logs only, no weights).
`python -m training.balancing --report` writes benchmarks/results/balancing.md from those logs.

The collapse probes are not balancing variants: they change the routing (top-1) or the learning rate
to look for the conditions under which an unbalanced router collapses at this scale.
"""
from __future__ import annotations

import argparse
import functools
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from backend.threads import free_cores
from models.config import ModelConfig
from models.zoo import SPECS
from paths import BALANCING_RUNS as RUNS_DIR, EVAL_DIR, RESULTS, TOKENIZER, TRAIN_DIR
from training.log import LOG_FILE, TrainLog, read_run_log
from training.train import TrainConfig, load_streams, run

REPORT = RESULTS / "balancing.md"
STEPS = 300
BASE = SPECS["moe-8"].config.replace(aux_loss_weight=0.0, z_loss_weight=0.0)
TAIL_STEPS = 20  # final figures average the last steps' logs


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    config: dict = field(default_factory=dict)  # ModelConfig changes from BASE
    train: dict = field(default_factory=dict)  # TrainConfig changes (collapse probes only)
    probe: bool = False

    def model_config(self) -> ModelConfig:
        return BASE.replace(**self.config)


TOP1 = dict(top_k=1, normalize_topk=False)
CAPACITY = dict(router="capacity", top_k=1, capacity_factor=1.25, normalize_topk=False)
VARIANTS = (
    Variant("none", "no balancing at all (top-2)"),
    Variant("aux", "load-balancing auxiliary loss, weight 0.01", dict(aux_loss_weight=0.01)),
    Variant("noise", "noisy top-k alone (learned noise scale, Shazeer 2017), no aux loss", dict(router="noisy")),
    Variant("aux+noise", "aux loss + noisy top-k", dict(aux_loss_weight=0.01, router="noisy")),
    Variant("aux+z", "aux loss + router z-loss, weight 0.001 (ST-MoE; z-loss is a stability fix, not a balancing one)",
            dict(aux_loss_weight=0.01, z_loss_weight=0.001)),
    Variant("bias", "bias-based balancing, no aux loss (DeepSeek-V3), update rate 0.001", dict(router="bias", bias_update_rate=0.001)),
    Variant("top-1", "top-1 routing alone, no balancing", TOP1),
    Variant("top-1+capacity", "top-1 with capacity factor 1.25 (overflow tokens dropped), no aux loss", CAPACITY),
    Variant("capacity", "top-1 + capacity factor 1.25 + aux loss (the Switch Transformer recipe)", CAPACITY | dict(aux_loss_weight=0.01)),
    Variant("probe: top-1, lr x3", "collapse probe: top-1, no balancing, learning rate 9e-3", TOP1, dict(lr=9e-3), probe=True),
)
BY_NAME = {v.name: v for v in VARIANTS}
SEEDS = (1234, 1235)  # every variant is trained once per seed (weights' init and batch order)


def run_dir(name: str, seed: int) -> Path:
    return RUNS_DIR / name.replace(": ", "_").replace(", ", "_").replace(" ", "-") / f"seed-{seed}"


def recorded_seeds(name: str) -> list[int]:
    return [s for s in SEEDS if (run_dir(name, s) / LOG_FILE).is_file()]


def recorded_variants() -> list[str]:
    """Variants with at least one run's logs in assets/balancing/, in table order."""
    return [v.name for v in VARIANTS if recorded_seeds(v.name)]


def train_variants(names: list[str] | None, seeds: list[int], steps: int) -> None:
    """Train every missing (variant, seed) run; runs whose log exists are kept (so an interrupted
    campaign continues where it stopped)."""
    streams = load_streams(TRAIN_DIR, EVAL_DIR, TOKENIZER, BASE.vocab_size)
    for v in VARIANTS:
        for seed in seeds:
            if (names and v.name not in names) or (run_dir(v.name, seed) / LOG_FILE).is_file():
                continue
            tc = replace(TrainConfig(steps=steps, warmup_steps=min(50, steps // 6), seed=seed), **v.train)
            evaluation = run(v.model_config(), tc, run_dir(v.name, seed), streams, checkpoint=False)
            print(f"{v.name}, seed {seed}: held-out loss {evaluation['overall']['loss']:.4f}", flush=True)


def read_log(name: str, seed: int = SEEDS[0]) -> TrainLog:
    return read_run_log(run_dir(name, seed))


def final_shares(log: TrainLog) -> list[list[float]]:
    """(L, E): each expert's share of assignments in each layer, averaged over the run's last TAIL_STEPS steps."""
    tail = TrainLog(log.rows[-TAIL_STEPS:])
    return [[statistics.mean(s) for s in tail.shares(i)] for i in range(tail.n_layers)]


def final_figures(log: TrainLog) -> dict:
    """One run's figures over its last TAIL_STEPS steps: per-layer quantities averaged over layers, except
    dead experts, counted over the whole model (dead expert slots of L x E, the same count the curves show)."""
    tail = TrainLog(log.rows[-TAIL_STEPS:])

    def tail_mean(key: str) -> float:
        return statistics.mean(tail.layer_mean(key))

    shares = final_shares(log)
    return {
        "train_loss": statistics.mean(tail.series("loss")),
        "held_out_loss": log.info["held_out"]["overall"]["loss"],
        "load_cv": tail_mean("load_cv"),
        "dead_experts": statistics.mean(tail.layer_sum("dead_experts")),
        "expert_slots": tail.n_layers * tail.n_experts,
        "router_entropy": tail_mean("router_entropy"),
        "dropped_fraction": tail_mean("dropped_fraction"),
        "min_share": min(min(s) for s in shares),
        "max_share": max(max(s) for s in shares),
        "steps": len(log.rows),
    }


@functools.lru_cache(maxsize=None)
def variant_summary(name: str) -> dict:
    """Every recorded seed's figures, and their mean and spread (sample std over seeds; 0 with one seed).
    Cached: the shipped logs do not change while the app serves (callers must not mutate the result)."""
    runs = {seed: final_figures(read_log(name, seed)) for seed in recorded_seeds(name)}
    keys = [k for k in next(iter(runs.values())) if k not in ("steps", "expert_slots")]
    summary = {"seeds": list(runs), "runs": runs, "steps": next(iter(runs.values()))["steps"],
               "expert_slots": next(iter(runs.values()))["expert_slots"]}
    for k in keys:
        values = [r[k] for r in runs.values()]
        summary[k] = {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return summary


def compared_with(summary: dict, baseline: dict) -> dict:
    """Held-out loss of a variant against the baseline's: the difference, and whether it exceeds the seed
    spread (twice the larger standard deviation of the two; with one seed nothing can be told)."""
    diff = summary["held_out_loss"]["mean"] - baseline["held_out_loss"]["mean"]
    spread = 2 * max(summary["held_out_loss"]["std"], baseline["held_out_loss"]["std"])
    resolved = len(summary["seeds"]) > 1 and len(baseline["seeds"]) > 1
    return {"difference": diff, "spread": spread, "verdict": ("better" if diff < 0 else "worse") if resolved and abs(diff) > spread else "tie"}


def write_report() -> str:
    summaries = {v.name: variant_summary(v.name) for v in VARIANTS if recorded_seeds(v.name)}
    rows = []
    for v in VARIANTS:
        if v.name not in summaries:
            continue
        f = summaries[v.name]
        versus = compared_with(f, summaries["none"]) if "none" in summaries and v.name != "none" else None
        rows.append(
            f"| {v.name} | {v.description} | {len(f['seeds'])} | {f['held_out_loss']['mean']:.3f} ± {f['held_out_loss']['std']:.3f} | "
            + (f"{versus['difference']:+.3f} ({versus['verdict']}) | " if versus else "| ")
            + f"{f['train_loss']['mean']:.3f} | {f['load_cv']['mean']:.3f} | {f['dead_experts']['mean']:.1f} of {f['expert_slots']} | "
            f"{100 * f['min_share']['mean']:.1f} / {100 * f['max_share']['mean']:.1f} | {f['router_entropy']['mean']:.3f} | "
            f"{100 * f['dropped_fraction']['mean']:.2f} | {f['steps']} |"
        )
    text = (
        "# Problems of MoE: load balancing variants\n\n"
        "Generated by `python -m training.balancing --report` from the logs in `assets/balancing/`. Every run is "
        "the moe-8 backbone (8 experts of width 256) on the zoo's corpus, tokenizer, batches and schedule, once per "
        f"seed ({', '.join(map(str, SEEDS))}: the seed sets the initial weights and the batch order); runs are {STEPS} "
        "steps of 16 x 256 tokens unless the table says otherwise. Held-out loss is nats/token on `assets/eval/`, "
        "mean ± standard deviation over the seeds; 'vs none' is the difference from the unbalanced run, called a tie "
        f"unless it exceeds twice the larger seed spread. The other figures are means over seeds of the last {TAIL_STEPS} "
        "steps, per-layer quantities averaged over the 4 MoE layers; dead expert slots (an expert getting less than 10% "
        "of the uniform share 1/E in a layer) are counted over the whole model, as on the page's curve. Wall times are "
        "not reported: the runs shared the machine with other work.\n\n"
        "| variant | what changes | seeds | held-out loss | vs none | train loss | load CV | dead expert slots "
        "| min / max expert share (%) | router entropy (nats, max ln 8 = 2.079) | dropped (%) | steps |\n|" + "---|" * 12 + "\n"
        + "\n".join(rows) + "\n"
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description="Train or report the load-balancing variants.")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--only", nargs="*", help="variant names")
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: the cores no other process is using)")
    args = parser.parse_args()
    if args.train:
        torch.set_num_threads(args.threads or free_cores())
        train_variants(args.only, args.seeds, args.steps)
    if args.report or not args.train:
        print(write_report())


if __name__ == "__main__":
    main()
