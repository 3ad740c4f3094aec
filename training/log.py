"""The one training-log schema: what a run writes and how it is read back.

A run directory holds
    train_log.csv   one row per optimizer step: step, lr, loss, aux_loss, z_loss, tokens_per_s, and per
                    MoE layer i the columns l<i>_share_e<j> (share of (token, slot) assignments of expert j),
                    l<i>_load_cv, l<i>_dead_experts, l<i>_router_entropy, l<i>_dropped_fraction;
    eval.json       {"held_out": {domain: {"loss", "tokens"}, "overall": {...}}, "train": {TrainConfig fields,
                    tokens_seen, seconds, threads}}.
`log_row` builds a row from a step's routing traces, `write_run_log` writes both files and `read_run_log`
reads them into a `TrainLog`, which the views draw (they get the object, never this module).
"""
from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from routing.stats import load_stats
from routing.trace import RoutingTrace

LOG_FILE, EVAL_FILE = "train_log.csv", "eval.json"
LAYER_KEYS = ("load_cv", "dead_experts", "router_entropy", "dropped_fraction")


def log_row(step: int, lr: float, loss: float, aux: float, z: float, tok_s: float,
            traces: list[RoutingTrace]) -> dict[str, float]:
    row = {"step": step, "lr": lr, "loss": loss, "aux_loss": aux, "z_loss": z, "tokens_per_s": tok_s}
    for trace in traces:
        stats = load_stats(trace)
        prefix = f"l{trace.layer}"
        row |= {f"{prefix}_share_e{e}": share for e, share in enumerate(stats.shares)}
        row |= {f"{prefix}_{key}": getattr(stats, key) for key in LAYER_KEYS}
    return row


@dataclass(frozen=True)
class TrainLog:
    """A run's per-step rows (and its eval.json, when read from disk), with the schema's shape."""
    rows: list[dict[str, float]]
    info: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        """MoE layers logged (columns l<i>_share_e<j>); 0 for a dense run or no rows."""
        return len({k.split("_")[0] for k in self.rows[0] if "_share_e" in k}) if self.rows else 0

    @property
    def n_experts(self) -> int:
        return sum(1 for k in self.rows[0] if k.startswith("l0_share_e")) if self.rows else 0

    @property
    def steps(self) -> list[int]:
        return [int(r["step"]) for r in self.rows]

    def series(self, key: str) -> list[float]:
        """A per-step column, e.g. "loss" or "l0_load_cv"."""
        return [r[key] for r in self.rows]

    def layer_mean(self, key: str) -> list[float]:
        """Per step, the mean over MoE layers of l<i>_<key>."""
        return [statistics.mean(r[f"l{i}_{key}"] for i in range(self.n_layers)) for r in self.rows]

    def layer_sum(self, key: str) -> list[float]:
        """Per step, the sum over MoE layers of l<i>_<key> (e.g. dead expert slots in the whole model)."""
        return [sum(r[f"l{i}_{key}"] for i in range(self.n_layers)) for r in self.rows]

    def shares(self, layer: int) -> list[list[float]]:
        """(E, steps): each expert's share of assignments in `layer` at every step."""
        return [self.series(f"l{layer}_share_e{e}") for e in range(self.n_experts)]


def write_run_log(out_dir: Path, rows: list[dict[str, float]], info: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOG_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
    (out_dir / EVAL_FILE).write_text(json.dumps(info, indent=2) + "\n")


def read_run_log(out_dir: Path) -> TrainLog:
    with open(out_dir / LOG_FILE) as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    eval_path = out_dir / EVAL_FILE
    return TrainLog(rows, json.loads(eval_path.read_text()) if eval_path.is_file() else {})
