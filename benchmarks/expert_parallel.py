"""`python -m benchmarks.expert_parallel [--quick]`: what load imbalance costs when experts live on different ranks.

The experts of one moe-8 layer are sharded over 2 ranks (separate processes, one torch thread each, gloo;
models/expert_parallel.py), at the zoo's width (its trained weights) and at the Latency lab's width (D 4096,
experts 1024 wide, random weights: speed does not depend on their values), for the same routings:
(a) the zoo's own routing on held-out text of each domain (one 256-token window per rank, every layer;
    --quick: layer 1), (b) a perfectly balanced assignment, (c) a collapsed routing drawn from the collapse
probe's recorded load, (d) capacity factors 1.0 / 1.25 / 2.0, (e) the hottest expert copied to the other
rank, and a placement balanced greedily by the measured load; (c)-(e) on the collapsed routing and on the
most imbalanced real one. Before timing, the sharded layer is checked equal to the single-process layer on
real text. Writes benchmarks/results/expert_parallel{,_quick}.{md,json} and prints the report.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from backend.timing import machine_description
from benchmarks.common import write_results
from lab.expert_parallel import (Job, Scenario, balanced_routing, measure, realistic_scale, sampled_routing, traffic, with_fixes,
                                 zoo_routing)
from lab.variants import LabScale
from models.expert_parallel import Placement
from models.zoo import load_member
from paths import EVAL_DIR
from routing.options import RoutingOptions
from training.balancing import TAIL_STEPS, final_shares, read_log
from viz.expert_parallel_views import device_findings, scenario_label

MEMBER, RANKS, TOKENS_PER_RANK = "moe-8", 2, 256
DOMAINS = ("english", "russian", "python")
MAX_CHECK_DIFF = 1e-6  # of the output's scale
COLLAPSE_RUN = ("probe: top-1, lr x3", 1234)  # the collapse probe whose recorded load stands in for a collapsed router


def collapsed_shares() -> tuple[list[float], str]:
    """The most imbalanced layer's expert shares (mean of the last TAIL_STEPS steps) of the collapse probe's recorded
    run, and where they come from."""
    name, seed = COLLAPSE_RUN
    layers = final_shares(read_log(name, seed))
    layer = max(range(len(layers)), key=lambda i: statistics.pstdev(layers[i]))
    return layers[layer], f"{name}, seed {seed}, layer {layer}, last {TAIL_STEPS} steps"


def domain_windows(member, domain: str, n_ranks: int, tokens: int) -> list[torch.Tensor]:
    """n_ranks consecutive windows of `tokens` held-out tokens of one domain, one per rank."""
    ids = member.tokenizer.encode((EVAL_DIR / f"{domain}.txt").read_text()[: 40 * tokens * n_ranks]).ids
    if len(ids) < tokens * n_ranks:
        raise RuntimeError(f"{EVAL_DIR / domain}.txt has fewer than {tokens * n_ranks} tokens")
    return [torch.tensor(ids[r * tokens:(r + 1) * tokens]) for r in range(n_ranks)]


def scenarios(member, layers: list[int]) -> tuple[list[Scenario], dict]:
    """Every routing and fix the benchmark times, and where the synthetic ones come from."""
    cfg = member.model.cfg
    n = TOKENS_PER_RANK * RANKS
    default = Placement.contiguous(cfg.n_experts, RANKS)
    real = []
    for domain in DOMAINS:
        windows = domain_windows(member, domain, RANKS, TOKENS_PER_RANK)
        for layer in layers:
            _, idx, gates = zoo_routing(member.model, windows, layer)
            real.append(Scenario(f"{domain}, layer {layer}", idx, gates, default))
    worst = max(real, key=lambda s: max(traffic(s, 1)["rows_computed"]))
    shares, source = collapsed_shares()
    collapsed = sampled_routing(shares, n, cfg.top_k, seed=0)
    out = [Scenario("balanced", *balanced_routing(n, cfg.top_k, cfg.n_experts), default)] + real
    out += with_fixes(worst.name, worst.expert_idx, worst.gate_weights, cfg.n_experts, RANKS)[1:]
    out += with_fixes("collapsed", *collapsed, cfg.n_experts, RANKS)
    return out, {"collapsed_from": source, "collapsed_shares": shares, "most_imbalanced_real": worst.name}


def check(member, layer: int) -> float:
    """Max |sharded - single-process| / the output's scale, on real text (English on rank 0, Python on rank 1),
    without and with a capacity limit."""
    cfg = member.model.cfg
    windows = [domain_windows(member, d, 1, 128)[0] for d in ("english", "python")]
    x, idx, gates = zoo_routing(member.model, windows, layer)
    job = Job(LabScale(cfg.d_model, cfg.d_ff, cfg.n_experts, cfg.top_k), {"zoo": MEMBER, "layer": layer}, x, [],
              check=[None, 1.0])
    outputs = measure(job)[1]
    moe = member.model.blocks[layer].ffn
    worst = 0.0
    with torch.no_grad():
        for capacity in (None, 1.0):
            expected = moe(x[None], RoutingOptions(capacity_factor=capacity), None, False)[0][0]
            worst = max(worst, float((outputs[f"capacity={capacity}"] - expected).abs().max() / expected.abs().max()))
    return worst


def run(quick: bool) -> dict:
    """Check the sharded layer, then time every scenario at both widths."""
    torch.set_num_threads(1)
    member = load_member(MEMBER)
    cfg = member.model.cfg
    layers = [1] if quick else list(range(cfg.n_layers))
    difference = check(member, 1)
    if difference > MAX_CHECK_DIFF:
        raise RuntimeError(f"the sharded layer differs from the single-process one by {difference:.1e} of its scale; not timing")
    timed, sources = scenarios(member, layers)
    repeats, warmup = (5, 1) if quick else (11, 2)
    widths = {"zoo": (LabScale(cfg.d_model, cfg.d_ff, cfg.n_experts, cfg.top_k), {"zoo": MEMBER, "layer": 1}),
              "realistic": (realistic_scale(cfg.n_experts, cfg.top_k, cfg.d_ff), {"seed": 0})}
    out = {"machine": machine_description(), "member": MEMBER, "tokens_per_rank": TOKENS_PER_RANK, "layers": layers,
           "check_max_relative_diff": difference, **sources, "widths": {}}
    for width, (scale, weights) in widths.items():
        x = torch.randn(TOKENS_PER_RANK * RANKS, scale.d_model, generator=torch.Generator().manual_seed(0))
        print(f"timing {len(timed)} scenarios at the {width} width (D {scale.d_model}, expert width {scale.d_expert}) "
              f"on {RANKS} ranks ...", flush=True)
        out["widths"][width] = measure(Job(scale, weights, x, timed, RANKS, repeats, warmup))[0]
    return out


def summary(result: dict) -> str:
    """The run as markdown: per width, every scenario's ranks, phases, bytes and step, then the findings."""
    lines = [f"# Expert parallelism: {result['machine']}", "",
             f"{MEMBER}'s routing, {result['tokens_per_rank']} tokens per rank, layers {result['layers']}; the sharded layer "
             f"equals the single-process one to {result['check_max_relative_diff']:.1e} of its output's scale (real text, "
             f"with and without a capacity limit). Collapsed routing: drawn from {result['collapsed_from']}. Most imbalanced "
             f"real routing: {result['most_imbalanced_real']}.", ""]
    for width, run in result["widths"].items():
        scale, reliability = run["scale"], run["reliability"]
        verdict = ("reliable" if reliability["reliable"] else "UNRELIABLE: " + "; ".join(reliability["reasons"]))
        lines += [f"## {width} width: D {scale['d_model']}, {scale['n_experts']} experts of width {scale['d_expert']}, "
                  f"top-{scale['top_k']}, {scale['dtype']}", "",
                  f"{run['n_ranks']} ranks ({run['backend']}, {run['threads_per_rank']} thread each), medians of "
                  f"{run['repeats']} interleaved repetitions after {run['warmup']} warm-up; run {verdict}.", "",
                  "| scenario | placement | rows computed per rank | busiest | dropped | rank 0 dispatch / compute / combine ms "
                  "| rank 1 dispatch / compute / combine ms | MB sent per rank | step ms (IQR) |",
                  "|---|---|---|---:|---:|---|---|---|---:|"]
        for s in run["scenarios"]:
            phases = [" / ".join(f"{r[p]:.2f}" for p in ("dispatch", "compute", "combine")) for r in s["ranks"]]
            lines.append(f"| {scenario_label(s)} | {' ; '.join(','.join(map(str, r)) for r in s['placement'])} "
                         f"| {', '.join(map(str, s['closed_form']['rows_computed']))} | rank {s['busiest_rank']} "
                         f"({100 * s['busiest_share']:.0f}%) | {s['dropped']} of {s['assignments']} | {' | '.join(phases)} "
                         f"| {', '.join(f'{b / 1e6:.2f}' for b in s['closed_form']['bytes_sent'])} "
                         f"| {s['step']['median_ms']:.2f} ({s['step']['q25_ms']:.2f}-{s['step']['q75_ms']:.2f}) |")
        lines += ["", device_findings(run), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Expert parallelism on 2 ranks: what load imbalance costs, measured.")
    parser.add_argument("--quick", action="store_true", help="one layer, fewer repetitions (under 2 minutes)")
    args = parser.parse_args()
    result = run(args.quick)
    name = "expert_parallel_quick" if args.quick else "expert_parallel"
    write_results(name, result, summary(result))


if __name__ == "__main__":
    main()
