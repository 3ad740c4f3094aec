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
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

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


VARIANTS = (
    Variant("none", "no balancing at all (top-2)"),
    Variant("aux", "load-balancing auxiliary loss, weight 0.01", dict(aux_loss_weight=0.01)),
    Variant("aux+noise", "aux loss + noisy top-k (learned noise scale, Shazeer 2017)", dict(aux_loss_weight=0.01, router="noisy")),
    Variant("aux+z", "aux loss + router z-loss, weight 0.001 (ST-MoE)", dict(aux_loss_weight=0.01, z_loss_weight=0.001)),
    Variant("bias", "bias-based balancing, no aux loss (DeepSeek-V3), update rate 0.001", dict(router="bias", bias_update_rate=0.001)),
    Variant("capacity", "top-1 with capacity factor 1.25 (Switch; overflow tokens dropped) + aux loss",
            dict(router="capacity", top_k=1, capacity_factor=1.25, normalize_topk=False, aux_loss_weight=0.01)),
    Variant("probe: none, top-1", "collapse probe: no balancing, top-1 routing", dict(top_k=1, normalize_topk=False), probe=True),
    Variant("probe: none, top-1, lr x3", "collapse probe: no balancing, top-1, learning rate 9e-3",
            dict(top_k=1, normalize_topk=False), dict(lr=9e-3), probe=True),
)
BY_NAME = {v.name: v for v in VARIANTS}


def run_dir(name: str) -> Path:
    return RUNS_DIR / name.replace(": ", "_").replace(", ", "_").replace(" ", "-")


def recorded_variants() -> list[str]:
    """Variants whose logs ship in assets/balancing/, in table order."""
    return [v.name for v in VARIANTS if (run_dir(v.name) / LOG_FILE).is_file()]


def train_variants(names: list[str] | None, steps: int) -> None:
    streams = load_streams(TRAIN_DIR, EVAL_DIR, TOKENIZER, BASE.vocab_size)
    for v in VARIANTS:
        if names and v.name not in names:
            continue
        tc = replace(TrainConfig(steps=steps, warmup_steps=min(50, steps // 6)), **v.train)
        evaluation = run(v.model_config(), tc, run_dir(v.name), streams, checkpoint=False)
        print(f"{v.name}: held-out loss {evaluation['overall']['loss']:.4f}")


def read_log(name: str) -> TrainLog:
    return read_run_log(run_dir(name))


def final_figures(log: TrainLog) -> dict:
    """Averages over the last TAIL_STEPS steps (means over layers where per-layer)."""
    tail = TrainLog(log.rows[-TAIL_STEPS:])

    def tail_mean(key: str) -> float:
        return statistics.mean(tail.layer_mean(key))

    shares = [[statistics.mean(s) for s in tail.shares(i)] for i in range(tail.n_layers)]
    return {
        "train_loss": statistics.mean(tail.series("loss")),
        "held_out_loss": log.info["held_out"]["overall"]["loss"],
        "load_cv": tail_mean("load_cv"),
        "dead_experts": max(r[f"l{i}_dead_experts"] for r in tail.rows for i in range(tail.n_layers)),
        "router_entropy": tail_mean("router_entropy"),
        "dropped_fraction": tail_mean("dropped_fraction"),
        "min_share": min(min(s) for s in shares),
        "max_share": max(max(s) for s in shares),
        "steps": len(log.rows),
        "seconds": log.info["train"]["seconds"],
    }


def write_report() -> str:
    rows = []
    for v in VARIANTS:
        if not (run_dir(v.name) / "train_log.csv").is_file():
            continue
        f = final_figures(read_log(v.name))
        rows.append(
            f"| {v.name} | {v.description} | {f['train_loss']:.3f} | {f['held_out_loss']:.3f} | {f['load_cv']:.3f} | "
            f"{f['dead_experts']:.0f} | {100 * f['min_share']:.1f} / {100 * f['max_share']:.1f} | "
            f"{f['router_entropy']:.3f} | {100 * f['dropped_fraction']:.2f} | {f['steps']} ({f['seconds'] / 60:.1f} min) |"
        )
    text = (
        "# Problems of MoE: load balancing variants\n\n"
        "Generated by `python -m training.balancing --report` from the logs in `assets/balancing/`. Every run is "
        f"the moe-8 backbone (8 experts of width 256) on the zoo's corpus, tokenizer, batches, schedule and seed; "
        f"runs are {STEPS} steps of 16 x 256 tokens unless the table says otherwise. Per-layer figures are the mean "
        f"over the 4 MoE layers of the last {TAIL_STEPS} training steps; 'dead' experts get less than 10% of the "
        "uniform share (1/E) in some layer; shares are of (token, slot) assignments, uniform = 12.5%. "
        "Held-out loss is nats/token on `assets/eval/`.\n\n"
        "| variant | what changes | train loss | held-out loss | load CV | dead experts (max) | min / max expert share (%) "
        "| router entropy (nats, max ln 8 = 2.079) | dropped (%) | steps (time) |\n|" + "---|" * 10 + "\n"
        + "\n".join(rows) + "\n"
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description="Train or report the load-balancing variants.")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--only", nargs="*", help="variant names")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.train:
        train_variants(args.only, args.steps)
    if args.report or not args.train:
        print(write_report())


if __name__ == "__main__":
    main()
