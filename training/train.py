"""Training: `python -m training.train` trains one model from a config, `--zoo` retrains the zoo.

Runs span sessions: every --checkpoint-every steps a resumable state is saved (training/resume.py), and
`--resume` continues each run from it (and skips runs already written with the same config and schedule);
a resumed run ends with the same weights as an uninterrupted one. Under torchrun the global batch is split
over the ranks (training/distributed.py):
    torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m training.train --zoo

AdamW (decay on matrices only), linear warm-up then cosine decay, gradient clipping, fixed seeds.
The loss is next-token cross-entropy + aux_loss_weight * load-balancing loss + z_loss_weight * z-loss.
A bias-balanced router's bias moves after each step from that step's expert counts (outside the
gradient). Every step is logged (training/log.py: per MoE layer, each expert's token share, the load
CV, dead experts, router entropy and dropped fraction) and the held-out loss per domain goes to
eval.json. Checkpoints are config.json + model.safetensors (fp16 storage, fp32 compute).
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import torch
from tqdm import tqdm

from corpus.streams import WindowSampler, eval_windows, load_domains
from corpus.tokenizer import load_tokenizer
from models import zoo
from models.checkpoint import save_checkpoint
from models.config import ModelConfig
from models.transformer import Transformer, lm_loss
from backend.threads import free_cores
from paths import EVAL_DIR, TOKENIZER, TRAIN_DIR, zoo_dir
from routing.options import RoutingOptions
from training.distributed import Ranks
from training.log import log_row, write_run_log
from training.resume import has_state, load_state, save_state

RESUME_DIR = "resume"


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000  # the zoo recipe: 3,000 steps x 16 x 256 tokens
    batch_size: int = 16
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 1234
    eval_batch_size: int = 32

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.warmup_steps < 1:
            raise ValueError("steps, batch_size and warmup_steps must be >= 1")


def learning_rate(step: int, tc: TrainConfig) -> float:
    """Linear warm-up to lr, then cosine decay to lr * min_lr_ratio at the last step."""
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    progress = (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps)
    return tc.lr * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: Transformer, tc: TrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(0.9, 0.95))


def training_steps(cfg: ModelConfig, tc: TrainConfig, train_stream: torch.Tensor, state_dir: Path | None = None,
                   checkpoint_every: int = 0, ranks: Ranks = Ranks(), resume: bool = False,
                   eval_streams: dict[str, torch.Tensor] | None = None, eval_every: int = 0) -> Iterator[tuple[Transformer, dict]]:
    """Train, yielding (model, log row) after every optimizer step. With checkpoint_every > 0 a resumable
    state is saved in state_dir every that many steps; with resume and a state there, the run continues from
    it (the rows logged before it are yielded first), otherwise it starts from scratch. ranks: this process's
    share of a torchrun job (training/distributed.py). With eval_every > 0 every row carries the held-out
    loss (overall and per domain of eval_streams), measured every eval_every steps and at the last step
    (NaN in between): the training curves the page draws against tokens and FLOPs."""
    torch.manual_seed(tc.seed)
    model = Transformer(cfg)
    optimizer = make_optimizer(model, tc)
    sampler = WindowSampler(train_stream, tc.batch_size, cfg.context_length, tc.seed)
    first, rows = (load_state(state_dir, model, optimizer, sampler) if resume and has_state(state_dir) else (0, []))
    for row in rows:
        yield model, row
    trained = ranks.wrap(model)
    opts = RoutingOptions(learned_noise=cfg.router == "noisy")  # learned noise only while training
    for step in range(first, tc.steps):
        start = time.perf_counter()
        batch = ranks.local_rows(sampler.next_batch())  # (B / ranks, T+1)
        lr = learning_rate(step, tc)
        for group in optimizer.param_groups:
            group["lr"] = lr
        out = trained(batch[:, :-1], routing=opts, trace=cfg.is_moe)
        loss = lm_loss(out.logits, batch[:, 1:])
        total = loss + cfg.aux_loss_weight * out.aux_loss + cfg.z_loss_weight * out.z_loss
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        optimizer.step()
        for layer, trace in zip(model.moe_layers(), out.traces):
            if layer.router.selection_bias is not None:  # bias balancing (the bias and the sigmoid kinds)
                layer.router.update_bias(ranks.sum(trace.expert_counts()))
        tok_s = ranks.world * batch[:, :-1].numel() / (time.perf_counter() - start)
        row = log_row(step, lr, ranks.mean(loss).item(), ranks.mean(out.aux_loss).item(), ranks.mean(out.z_loss).item(),
                      tok_s, out.traces)
        if eval_every:
            due = (step + 1) % eval_every == 0 or step + 1 == tc.steps
            row |= held_out_columns(evaluate(model, eval_streams, tc.eval_batch_size) if due else None, eval_streams)
            model.train()
        rows.append(row)
        if checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < tc.steps and ranks.is_main:
            save_state(state_dir, model, optimizer, sampler, step + 1, rows)
        yield model, row


def train_model(cfg: ModelConfig, tc: TrainConfig, train_stream: torch.Tensor, out_dir: Path | None = None,
                progress: bool = True, state_dir: Path | None = None, checkpoint_every: int = 0,
                ranks: Ranks = Ranks(), resume: bool = False, eval_streams: dict[str, torch.Tensor] | None = None,
                eval_every: int = 0) -> tuple[Transformer, list[dict]]:
    """Train (or continue from state_dir) with a progress bar; returns the model (eval mode) and every step's log row."""
    rows: list[dict] = []
    bar = tqdm(training_steps(cfg, tc, train_stream, state_dir, checkpoint_every, ranks, resume, eval_streams, eval_every),
               total=tc.steps,
               desc=out_dir.name if out_dir else "train", disable=not progress or not ranks.is_main, mininterval=2)
    for model, row in bar:
        rows.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:,.0f}")
    model.eval()
    return model, rows


def held_out_columns(evaluation: dict[str, dict] | None, eval_streams: dict[str, torch.Tensor]) -> dict[str, float]:
    """The held_out_loss and held_out_<domain> columns of a log row (NaN where not measured)."""
    names = ["overall", *eval_streams]
    return {("held_out_loss" if d == "overall" else f"held_out_{d}"): (evaluation[d]["loss"] if evaluation else math.nan)
            for d in names}


@torch.no_grad()
def evaluate(model: Transformer, eval_streams: dict[str, torch.Tensor], batch_size: int = 32) -> dict[str, dict]:
    """Held-out next-token loss per domain and over all held-out tokens (mean nats per token); leaves the
    model in eval mode."""
    model.eval()
    result, total_loss, total_tokens = {}, 0.0, 0
    for domain, stream in eval_streams.items():
        windows = eval_windows(stream, model.cfg.context_length)
        loss_sum = 0.0
        for i in range(0, len(windows), batch_size):
            w = windows[i : i + batch_size]
            loss_sum += lm_loss(model(w[:, :-1]).logits, w[:, 1:], reduction="sum").item()
        n = windows[:, 1:].numel()
        result[domain] = {"loss": loss_sum / n, "tokens": n}
        total_loss, total_tokens = total_loss + loss_sum, total_tokens + n
    result["overall"] = {"loss": total_loss / total_tokens, "tokens": total_tokens}
    return result


def write_run(model: Transformer, rows: list[dict], evaluation: dict, tc: TrainConfig, out_dir: Path, seconds: float,
              checkpoint: bool = True) -> None:
    """The run's logs (training/log.py), and the checkpoint unless checkpoint=False (logs-only runs)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if checkpoint:
        save_checkpoint(model, out_dir, dtype=torch.float16)
    else:
        (out_dir / "config.json").write_text(json.dumps(model.cfg.to_dict(), indent=2) + "\n")
    tokens = tc.steps * tc.batch_size * model.cfg.context_length
    write_run_log(out_dir, rows, {"held_out": evaluation, "train": asdict(tc) | {
        "tokens_seen": tokens, "seconds": round(seconds, 1), "threads": torch.get_num_threads()}})


def load_streams(train_dir: Path, eval_dir: Path, tokenizer_path: Path, vocab_size: int):
    """-> (training token stream (N,), {domain: held-out stream})."""
    tokenizer = load_tokenizer(tokenizer_path)
    if tokenizer.get_vocab_size() != vocab_size:
        raise ValueError(f"{tokenizer_path} has {tokenizer.get_vocab_size()} tokens, the config {vocab_size}")
    return torch.cat(list(load_domains(train_dir, tokenizer).values())), load_domains(eval_dir, tokenizer)


def run(cfg: ModelConfig, tc: TrainConfig, out_dir: Path, streams, checkpoint: bool = True, resume: bool = False,
        checkpoint_every: int = 0, ranks: Ranks = Ranks(), eval_every: int = 0) -> dict | None:
    """Train, evaluate on the held-out split and write the run (on the main rank; the others return None).
    resume: continue from out_dir/resume if a state is there; checkpoint_every: save that state every so
    many steps (it is removed once the run is written)."""
    train_stream, eval_streams = streams
    state_dir = out_dir / RESUME_DIR if (resume or checkpoint_every) else None
    start = time.perf_counter()
    model, rows = train_model(cfg, tc, train_stream, out_dir, state_dir=state_dir, checkpoint_every=checkpoint_every,
                              ranks=ranks, resume=resume, eval_streams=eval_streams, eval_every=eval_every)
    seconds = time.perf_counter() - start
    if not ranks.is_main:
        return None
    evaluation = evaluate(model, eval_streams, tc.eval_batch_size)
    write_run(model, rows, evaluation, tc, out_dir, seconds, checkpoint)
    if state_dir is not None:
        shutil.rmtree(state_dir, ignore_errors=True)
    return evaluation


def finished(cfg: ModelConfig, tc: TrainConfig, out_dir: Path) -> bool:
    """A run of exactly this config and schedule was written to out_dir and left no state to resume."""
    try:
        info = json.loads((out_dir / "eval.json").read_text())
        config = json.loads((out_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False
    same_schedule = all(info["train"].get(k) == v for k, v in asdict(tc).items())
    return config == cfg.to_dict() and same_schedule and not has_state(out_dir / RESUME_DIR)


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a model (or the whole zoo) on the corpus; runs under torchrun too.")
    parser.add_argument("--config", type=Path, help="a ModelConfig JSON file")
    parser.add_argument("--out", type=Path, help="checkpoint directory for --config")
    parser.add_argument("--zoo", action="store_true", help="retrain every zoo model into the zoo directory (assets/models/ or MOE_ZOO_DIR)")
    parser.add_argument("--only", nargs="*", help="with --zoo: only these members")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="global batch (split over torchrun ranks)")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="seeds the initialisation and the batch order")
    parser.add_argument("--train-dir", type=Path, default=TRAIN_DIR)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--tokenizer", type=Path, default=TOKENIZER)
    parser.add_argument("--threads", type=int, default=0, help="torch threads per process (default: the free cores / processes)")
    parser.add_argument("--resume", action="store_true", help="continue each run from its saved state (<out>/resume)")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="save a resumable state every N steps (0 = never)")
    parser.add_argument("--eval-every", type=int, default=250, help="log the held-out loss every N steps (0 = only at the end)")
    args = parser.parse_args()
    ranks = Ranks.from_env()
    torch.set_num_threads(args.threads or max(1, free_cores() // ranks.world))
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    if args.zoo:
        jobs = [(m.config, zoo_dir() / m.name) for m in zoo.ZOO if not args.only or m.name in args.only]
    elif args.config and args.out:
        jobs = [(ModelConfig.from_dict(json.loads(args.config.read_text())), args.out)]
    else:
        parser.error("give --config and --out, or --zoo")
    if not jobs:
        parser.error(f"--only matches no zoo member ({', '.join(m.name for m in zoo.ZOO)})")
    streams = load_streams(args.train_dir, args.eval_dir, args.tokenizer, jobs[0][0].vocab_size)
    try:
        for cfg, out_dir in jobs:
            if args.resume and finished(cfg, tc, out_dir):
                continue  # written by an earlier session of this campaign
            evaluation = run(cfg, tc, out_dir, streams, resume=args.resume, checkpoint_every=args.checkpoint_every, ranks=ranks,
                             eval_every=args.eval_every)
            if evaluation is not None:
                print(f"{out_dir.name}: held-out loss {evaluation['overall']['loss']:.4f}")
    finally:
        ranks.close()


if __name__ == "__main__":
    main()
