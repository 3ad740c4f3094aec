"""The zoo's model card: what the models were trained on, for how long, how well they predict held-out
text, and what they never saw. Built from the shipped files (corpus manifest, each member's config and
eval.json, the tokenizer), so it cannot drift from the models. Training FLOPs per token are counted as 3 x the
forward FLOPs (the backward pass costs about twice the forward), at the training context."""
from __future__ import annotations

import json
import math
from pathlib import Path

from corpus.manifest import manifest
from models.params import config_flops, count_params
from models.zoo import ZOO, shared_tokenizer
from paths import RESULTS, SEED_SPREAD_FULL, zoo_dir

BASELINES = RESULTS / "zoo_baselines.json"  # written by python -m benchmarks.zoo_results


def seed_losses(path: Path) -> dict[str, dict[int, float]]:
    """{member: {seed: held-out loss}} from a seed-spread report's JSON (benchmarks/seed_spread.py); {} if none."""
    if not path.is_file():
        return {}
    return {m: {int(seed): loss for seed, loss in by_seed.items()} for m, by_seed in json.loads(path.read_text())["losses"].items()}


def balancing(cfg) -> list[tuple[str, dict]]:
    """How a member's experts were kept balanced in training, read from its config, as (English template,
    values) pairs for text.tr; empty for a dense member."""
    if not cfg.is_moe:
        return []
    parts = [("bias on the routing scores (DeepSeek-V3), update rate {rate:g}", {"rate": cfg.bias_update_rate})] if cfg.router == "bias" else []
    parts += [("auxiliary loss, weight {weight:g}", {"weight": cfg.aux_loss_weight})] if cfg.aux_loss_weight else []
    parts += [("router z-loss, weight {weight:g}", {"weight": cfg.z_loss_weight})] if cfg.z_loss_weight else []
    return parts or [("no balancing", {})]


def balancing_groups(members, render) -> dict[str, list[str]]:
    """Recipe text -> the names trained with it, for (name, balancing(cfg)) pairs of MoE members;
    render(template, values) writes one part (text.tr for the page, str.format for English results)."""
    groups: dict[str, list[str]] = {}
    for name, parts in members:
        if parts:
            groups.setdefault("; ".join(render(template, values) for template, values in parts), []).append(name)
    return groups


def model_card() -> dict:
    info = manifest()
    vocab = shared_tokenizer().get_vocab_size()
    members = []
    for spec in ZOO:
        path = zoo_dir() / spec.name / "eval.json"
        if not path.is_file():
            continue
        run = json.loads(path.read_text())
        members.append({"name": spec.name, "description": spec.description, "tokens_trained": run["train"]["tokens_seen"],
                        "steps": run["train"]["steps"], "batch": run["train"]["batch_size"],
                        "train_flops_per_token": 3 * config_flops(spec.config, spec.config.context_length),
                        "total_params": count_params(spec.config).total.total,
                        "active_params": count_params(spec.config).active.total, "balancing": balancing(spec.config),
                        "held_out": {d: v["loss"] for d, v in run["held_out"].items()}})
    seeds = seed_losses(SEED_SPREAD_FULL)
    for member in members:
        member["seeds"] = seeds.get(member["name"], {})
    first = ZOO[0].config
    baselines = json.loads(BASELINES.read_text()) if BASELINES.is_file() else {}
    return {"domains": info["domains"], "characters": info.get("train_characters", ""), "vocab": vocab,
            "context": first.context_length, "uniform_loss": math.log(vocab), "members": members, "baselines": baselines}
