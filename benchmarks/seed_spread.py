"""`python -m benchmarks.seed_spread --train`: how much of the zoo's order is seed noise.

Trains each member at a proxy scale (default 300 steps x 16 x 256 = 1.2 M tokens, the zoo's recipe
otherwise) once per seed (the seed sets both the initialisation and the batch order), one after another
on one torch thread, logs only (no checkpoints), resumable: a finished run is skipped. Then reports, in
benchmarks/results/zoo_seed_spread.md, each member's held-out loss mean ± sample std over the seeds and,
for each consecutive pair in the zoo's order, the gap of the means beside the spread, and the paired gap
(same seed: same batches) mean ± std. A gap counts as established when it is larger than both members'
seed std and its paired interval (mean ± 2 std / sqrt(n)) excludes zero.

At full scale the shipped members count as seed 1234 (the trainer's default) when their directories are
linked in: `ln -s $PWD/assets/models/dense RUNS/dense-seed1234` (and so on), then
`--train --steps 3000 --seeds 1234 1235 --runs RUNS --out benchmarks/results/zoo_seed_spread_full.md`
trains only the second seed. Each report has a JSON twin ({member: {seed: loss}}); the full-scale one
puts each member's mean ± std over seeds beside it in benchmarks/results/zoo.md. A campaign may span
sessions and machines: each run this command finishes records the machine it finished on (machine.txt in
its directory), and the report lists the runs by machine.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import torch

from backend.timing import machine_description
from models.config import ModelConfig
from paths import EVAL_DIR, RESULTS, TOKENIZER, TRAIN_DIR, zoo_dir
from training.train import TrainConfig, finished, load_streams, run

MEMBERS = ("dense", "moe-4", "moe-8", "moe-16")
SEEDS = (1, 2, 3)
OUT = RESULTS / "zoo_seed_spread.md"
MACHINE_FILE = "machine.txt"


def run_dir(runs: Path, member: str, seed: int) -> Path:
    return runs / f"{member}-seed{seed}"


def train_all(configs: Path, runs: Path, members, seeds, steps: int) -> None:
    """Train every (member, seed) not finished yet, seed by seed (so a campaign cut short has every member)."""
    streams = None
    for seed in seeds:
        for member in members:
            cfg = ModelConfig.from_dict(json.loads((configs / member / "config.json").read_text()))
            tc, out = TrainConfig(steps=steps, seed=seed), run_dir(runs, member, seed)
            if finished(cfg, tc, out):
                continue
            streams = streams or load_streams(TRAIN_DIR, EVAL_DIR, TOKENIZER, cfg.vocab_size)
            run(cfg, tc, out, streams, checkpoint=False, resume=True, checkpoint_every=100, eval_every=0)
            (out / MACHINE_FILE).write_text(machine_description() + "\n")


def held_out_losses(runs: Path, members, seeds) -> dict[str, dict[int, float]]:
    """{member: {seed: overall held-out nats/token}} for the runs that finished."""
    out: dict[str, dict[int, float]] = {}
    for member in members:
        for seed in seeds:
            path = run_dir(runs, member, seed) / "eval.json"
            if path.is_file():
                out.setdefault(member, {})[seed] = json.loads(path.read_text())["held_out"]["overall"]["loss"]
    return out


def machines(runs: Path, members, seeds) -> dict[str, list[str]]:
    """{machine the run finished on, or "not recorded": [member-seed, ...]} for the runs that finished."""
    out: dict[str, list[str]] = {}
    for member in members:
        for seed in seeds:
            path = run_dir(runs, member, seed)
            if (path / "eval.json").is_file():
                machine = (path / MACHINE_FILE).read_text().strip() if (path / MACHINE_FILE).is_file() else "not recorded"
                out.setdefault(machine, []).append(path.name)
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else math.nan)


def gap_rows(losses: dict[str, dict[int, float]], members) -> list[dict]:
    """Consecutive pairs (a, b) in zoo order: how far b is below a, against the seed spread."""
    rows = []
    present = [m for m in members if m in losses]
    for a, b in zip(present, present[1:]):
        seeds = sorted(set(losses[a]) & set(losses[b]))
        paired = [losses[a][s] - losses[b][s] for s in seeds]
        paired_mean, paired_std = mean_std(paired)
        (mean_a, std_a), (mean_b, std_b) = mean_std(list(losses[a].values())), mean_std(list(losses[b].values()))
        half_width = 2 * paired_std / math.sqrt(len(paired)) if len(paired) > 1 else math.nan
        established = (len(paired) > 1 and mean_a - mean_b > max(std_a, std_b)
                       and paired_mean - half_width > 0)
        rows.append(dict(pair=f"{a} - {b}", gap=mean_a - mean_b, spread=max(std_a, std_b), paired_mean=paired_mean,
                         paired_std=paired_std, half_width=half_width, seeds=len(paired), established=established))
    return rows


def report(losses: dict[str, dict[int, float]], members, steps: int, machine: str, linked: list[str] = (),
           trained_on: dict[str, list[str]] | None = None) -> str:
    """The markdown report; linked: runs not trained here but linked in (the shipped checkpoints);
    trained_on: {machine: runs} (see `machines`)."""
    lines = [
        f"# Zoo order against seed noise ({steps} steps per run)", "",
        f"Generated by `python -m benchmarks.seed_spread --train --steps {steps}` on {machine}: every member trained "
        f"for {steps} steps x 16 x 256 tokens ({steps * 16 * 256 / 1e6:.1f} M tokens) with the zoo's recipe otherwise, "
        "once per seed (the seed sets the initialisation and the batch order); held-out loss on the committed split, "
        "nats/token." + (f" Linked in, not trained by this command: {', '.join(sorted(linked))} (the shipped checkpoints, "
                         "trained by the same recipe)." if linked else ""), "",
        *(["Where the runs finished: " + "; ".join(f"{name}: {', '.join(runs)}" for name, runs in trained_on.items())
           + ". CPUs round floats differently, so runs on different machines are not bit-identical; the spread "
           "below includes that.", ""] if trained_on else []),
        "| member | seeds | held-out nats/token, mean ± std | per seed |", "|---|---:|---:|---|",
    ]
    for member in members:
        if member not in losses:
            continue
        mean, std = mean_std(list(losses[member].values()))
        per_seed = ", ".join(f"{seed}: {loss:.4f}" for seed, loss in sorted(losses[member].items()))
        lines.append(f"| {member} | {len(losses[member])} | {mean:.4f} ± {std:.4f} | {per_seed} |")
    lines += ["", "| pair | gap of means (nats) | larger seed std | paired gap, mean ± std (same seeds) | "
              "paired mean ± 2 s.e. | established |", "|---|---:|---:|---:|---:|---|"]
    for row in gap_rows(losses, members):
        lines.append(f"| {row['pair']} | {row['gap']:+.4f} | {row['spread']:.4f} | {row['paired_mean']:+.4f} ± "
                     f"{row['paired_std']:.4f} ({row['seeds']} seeds) | [{row['paired_mean'] - row['half_width']:+.4f}, "
                     f"{row['paired_mean'] + row['half_width']:+.4f}] | {'yes' if row['established'] else 'no'} |")
    lines += ["", "A positive gap means the second member is lower (better). Established: the gap of the means is larger "
              "than both members' seed std and the paired interval excludes zero."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="train the runs that are missing first")
    parser.add_argument("--configs", type=Path, default=None, help="directory with <member>/config.json (default: the zoo)")
    parser.add_argument("--runs", type=Path, default=RESULTS / "seed_spread", help="where the runs' logs go")
    parser.add_argument("--members", nargs="*", default=list(MEMBERS))
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=OUT, help="the report (default: the proxy scale's)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the runs train on one thread; the report names the machine as they ran
    if args.train:
        train_all(args.configs or zoo_dir(), args.runs, args.members, args.seeds, args.steps)
    losses = held_out_losses(args.runs, args.members, args.seeds)
    linked = [p.name for p in args.runs.iterdir() if p.is_symlink()] if args.runs.is_dir() else []
    text = report(losses, args.members, args.steps, machine_description(), linked,
                  machines(args.runs, args.members, args.seeds))
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps({"steps": args.steps, "losses": losses}, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
