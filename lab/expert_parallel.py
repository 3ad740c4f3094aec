"""Expert parallelism, measured: what load imbalance costs when a layer's experts live on different ranks.

`measure(job)` runs models/expert_parallel.py's step on R ranks (separate processes, one torch thread
each, gloo on 127.0.0.1, started by `launch`), for a list of scenarios: a routing (every rank's tokens,
in rank order), a placement of the experts, and optionally a capacity limit. Each rank times its own
dispatch, compute and combine; the step of one repetition is the slowest rank's (every rank starts
after a barrier). Repetitions are interleaved over the scenarios (each repetition runs every scenario
once, in rotating order), medians with the interquartile range. Also here: the routings the page and the
benchmark compare (the zoo's on real text, perfectly balanced, collapsed as a recorded run ended), a
greedy placement that balances a measured load, the hottest expert replicated, and the closed form of
what each rank computes and sends.

The ranks never outnumber the cores this process may use: torch's threads spin while they wait, so an
oversubscribed rank would time the scheduler, not the experts. The page's measurement (the user's text)
is in lab/expert_parallel_text.py, one rank's work in lab/expert_parallel_worker.py.
Shapes: N tokens (all ranks), D model width, E experts, K experts per token, R ranks.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from backend.reliability import available_cores, watch
from lab.variants import LabScale
from models.capture import captured_inputs
from models.expert_parallel import Placement, destinations, even_shares
from paths import RESULTS, ROOT
from routing.capacity import capacity_dropped

WORKER = "lab.expert_parallel_worker"
SHIPPED = RESULTS / "expert_parallel.json"  # the full benchmark run (benchmarks/expert_parallel.py)
TIMEOUT_S = 600
STORE_ENV = "MOE_EP_STORE"  # the ranks' rendezvous file; without it a rank reads torchrun's MASTER_ADDR / MASTER_PORT


@dataclass(frozen=True)
class Scenario:
    """One routing of every rank's tokens (rank order) with a placement; dropped marks capacity drops."""
    name: str
    expert_idx: torch.Tensor  # (N, K) long
    gate_weights: torch.Tensor  # (N, K)
    placement: Placement
    dropped: torch.Tensor | None = None  # (N, K) bool
    capacity_factor: float | None = None  # the limit behind `dropped`, for the report
    fix: str = ""  # "" (as routed, default placement) | "greedy" | "replicated" | "capacity"
    replica: tuple[int, int] | None = None  # (expert, the rank its added copy sits on) of a "replicated" scenario


@dataclass(frozen=True)
class Job:
    """What the ranks run. weights: {"zoo": member, "layer": L} (the checkpoint's experts) or
    {"seed": s} (random experts at `scale`, each from its own seed, so copies on two ranks are equal)."""
    scale: LabScale
    weights: dict
    x: torch.Tensor  # (N, D) every rank's tokens, in rank order
    scenarios: list[Scenario]
    n_ranks: int = 2
    repeats: int = 7
    warmup: int = 2
    check: list = field(default_factory=list)  # capacity factors (None: the layer's own) for an equality check of the whole layer


def rank_slices(n_tokens: int, n_ranks: int) -> list[slice]:
    """Rank r's tokens: consecutive, as equal as they can be (the same cut as the experts' default placement)."""
    return even_shares(n_tokens, n_ranks)


def kept(scenario: Scenario) -> torch.Tensor:
    return torch.ones_like(scenario.expert_idx, dtype=torch.bool) if scenario.dropped is None else ~scenario.dropped


def expert_load(scenario: Scenario) -> list[int]:
    """Kept assignments per expert (E,)."""
    return torch.bincount(scenario.expert_idx[kept(scenario)], minlength=scenario.placement.n_experts).tolist()


def traffic(scenario: Scenario, bytes_per_row: int) -> dict[str, list[int]]:
    """The closed form of one step, per rank: rows its experts compute, rows it sends to other ranks, and
    the bytes those rows take (rows x D x bytes per element; the combine returns as many)."""
    n_ranks = scenario.placement.n_ranks
    computed, sent = [0] * n_ranks, [0] * n_ranks
    for source, rows in enumerate(rank_slices(scenario.expert_idx.shape[0], n_ranks)):
        dest = destinations(scenario.expert_idx[rows], kept(scenario)[rows], scenario.placement)
        for r, n in enumerate(torch.bincount(dest[dest >= 0], minlength=n_ranks).tolist()):
            computed[r] += n
            sent[source] += n if r != source else 0
    return {"rows_computed": computed, "rows_sent": sent, "bytes_sent": [n * bytes_per_row for n in sent]}


# --- routings -------------------------------------------------------------------------------------------------

def balanced_routing(n_tokens: int, top_k: int, n_experts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every expert the same load (to one when E does not divide N*K): token i takes experts i*K .. i*K+K-1 mod E."""
    idx = (torch.arange(n_tokens)[:, None] * top_k + torch.arange(top_k)) % n_experts  # (N, K)
    return idx, torch.full(idx.shape, 1.0 / top_k)


def sampled_routing(shares: list[float], n_tokens: int, top_k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Each token draws K distinct experts with probabilities proportional to `shares` (Gumbel top-K), so
    the load follows a recorded one; gates are the drawn experts' shares, renormalised."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.tensor(shares, dtype=torch.float64).clamp_min(1e-9).log()
    gumbel = -torch.empty(n_tokens, len(shares), dtype=torch.float64).exponential_(generator=gen).log()
    idx = torch.topk(logits + gumbel, top_k, dim=-1).indices  # (N, K)
    gates = torch.tensor(shares, dtype=torch.float32)[idx]
    return idx, gates / gates.sum(-1, keepdim=True)


@torch.no_grad()
def zoo_routing(model, sequences: list[torch.Tensor], layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A zoo MoE's routing at one layer on each rank's sequence (T_r,) token ids, at its own settings:
    -> the layer's inputs (N, D), chosen experts (N, K) and gate weights (N, K), sequences concatenated in
    rank order. The inputs are read during those calls only (models/capture.py: the model may be shared)."""
    traces, inputs = captured_inputs(model.blocks[layer].ffn, lambda: [model(ids[None], trace=True).traces for ids in sequences])
    chosen = [next(t for t in per_sequence if t.layer == layer) for per_sequence in traces]
    return (torch.cat([x[0] for x in inputs]), torch.cat([c.expert_idx[0] for c in chosen]),
            torch.cat([c.gate_weights[0] for c in chosen]))


# --- placements -----------------------------------------------------------------------------------------------

def rank_loads(placement: Placement, load: list[int]) -> list[float]:
    """Rows each rank's experts compute for a per-expert load (a replicated expert's split evenly)."""
    out = [0.0] * placement.n_ranks
    for e, n in enumerate(load):
        copies = placement.copies(e)
        for r in copies:
            out[r] += n / len(copies)
    return out


def greedy_placement(load: list[int], n_ranks: int) -> Placement:
    """Experts in decreasing load, each to the least-loaded rank that still has room (E / R experts per
    rank, as the default): the longest-processing-time rule, keeping each rank's memory the same."""
    room = [len(r) for r in Placement.contiguous(len(load), n_ranks).ranks]
    ranks: list[list[int]] = [[] for _ in range(n_ranks)]
    totals = [0] * n_ranks
    for e in sorted(range(len(load)), key=lambda e: (-load[e], e)):
        r = min((r for r in range(n_ranks) if len(ranks[r]) < room[r]), key=lambda r: (totals[r], r))
        ranks[r].append(e)
        totals[r] += load[e]
    return Placement(tuple(tuple(sorted(r)) for r in ranks))


def hottest_replicated(placement: Placement, load: list[int]) -> tuple[Placement, int, int]:
    """The placement with the most loaded expert copied onto the least loaded rank that lacks it (DeepSeek's
    EPLB replicates hot experts so); -> (placement, expert, rank)."""
    hot = max(range(len(load)), key=lambda e: (load[e], -e))
    loads = rank_loads(placement, load)
    target = min((r for r in range(placement.n_ranks) if hot not in placement.ranks[r]), key=lambda r: (loads[r], r))
    return placement.replicated(hot, target), hot, target


# --- running the ranks ----------------------------------------------------------------------------------------

def usable_ranks(requested: int) -> int:
    """At most one rank per core this process may use (never oversubscribed), at least 2 where there are 2 cores."""
    cores = available_cores()
    if cores < 2:
        raise RuntimeError("expert parallelism needs at least 2 cores (one rank each); this process may use 1")
    return max(2, min(requested, cores))


def launch(job_dir: Path, n_ranks: int, timeout: float = TIMEOUT_S) -> None:
    """Run R ranks of lab/expert_parallel_worker.py on job_dir, one torch thread each; they meet through a file
    store in job_dir (no port to race for). RuntimeError with the failing rank's last output if any rank fails."""
    procs = []
    for rank in range(n_ranks):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(n_ranks), STORE_ENV: str(job_dir / "store"),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        log = open(job_dir / f"rank{rank}.log", "w")
        procs.append((subprocess.Popen([sys.executable, "-m", WORKER, str(job_dir)], cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT), log))
    try:
        codes = [p.wait(timeout=timeout) for p, _ in procs]
    except subprocess.TimeoutExpired:
        codes = [None] * n_ranks
    finally:
        for p, log in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()
    failed = [r for r, c in enumerate(codes) if c != 0]
    if failed:
        tail = (job_dir / f"rank{failed[0]}.log").read_text()[-1500:]
        raise RuntimeError(f"expert-parallel rank {failed[0]} of {n_ranks} failed (exit {codes[failed[0]]}):\n{tail}")


def _own(t: torch.Tensor) -> torch.Tensor:
    """A contiguous copy that shares memory with nothing (a safetensors file stores each tensor once)."""
    return t.clone(memory_format=torch.contiguous_format)


def write_job(job: Job, job_dir: Path) -> None:
    tensors = {"x": job.x.contiguous()}
    scenarios = []
    for i, s in enumerate(job.scenarios):
        tensors[f"s{i}.expert_idx"], tensors[f"s{i}.gate_weights"] = _own(s.expert_idx), _own(s.gate_weights.float())
        if s.dropped is not None:
            tensors[f"s{i}.dropped"] = _own(s.dropped.to(torch.uint8))
        scenarios.append({"name": s.name, "placement": [list(r) for r in s.placement.ranks]})
    save_file(tensors, str(job_dir / "tensors.safetensors"))
    (job_dir / "job.json").write_text(json.dumps({
        "scale": job.scale.__dict__, "weights": job.weights, "scenarios": scenarios, "repeats": job.repeats,
        "warmup": job.warmup, "check": [c for c in job.check]}))


def _quartiles_ms(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1e3 * s for s in seconds)
    q = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) > 1 else [ms[0]] * 3
    return {"median_ms": statistics.median(ms), "q25_ms": q[0], "q75_ms": q[2]}


def measure(job: Job) -> tuple[dict, dict[str, torch.Tensor]]:
    """Run `job` on its ranks -> (the per-scenario report as plain data, with the reliability verdict; the
    outputs of the equality check by name, every rank's rows in rank order, when the job asks for one)."""
    n_ranks = usable_ranks(job.n_ranks)
    with tempfile.TemporaryDirectory(prefix="moe-ep-") as tmp, watch(children=True) as watched:
        job_dir = Path(tmp)
        write_job(job, job_dir)
        launch(job_dir, n_ranks)
        per_rank = [json.loads((job_dir / f"rank{r}.json").read_text()) for r in range(n_ranks)]
        checks = {}
        if job.check:
            parts = [load_file(str(job_dir / f"check{r}.safetensors")) for r in range(n_ranks)]
            checks = {name: torch.cat([p[name] for p in parts]) for name in parts[0]}
    bytes_per_row = job.scale.d_model * job.scale.torch_dtype.itemsize
    scenarios = [scenario_report(s, [r["scenarios"][i] for r in per_rank], bytes_per_row) for i, s in enumerate(job.scenarios)]
    spreads = [(s["step"]["q75_ms"] - s["step"]["q25_ms"]) / s["step"]["median_ms"] for s in scenarios if s["step"]["median_ms"]]
    return {"scale": job.scale.__dict__, "n_ranks": n_ranks, "repeats": job.repeats, "warmup": job.warmup,
            "threads_per_rank": 1, "backend": "gloo", "weights": job.weights, "n_tokens": int(job.x.shape[0]),
            "scenarios": scenarios, "reliability": asdict(watched.verdict(spreads))}, checks


def scenario_report(s: Scenario, ranks: list[dict], bytes_per_row: int) -> dict:
    """One scenario's numbers: per rank the medians of each phase, the step (slowest rank per repetition),
    the measured rows and bytes beside the closed form, the load and the straggler."""
    n_reps = len(ranks[0]["step"])
    steps = [max(r["step"][i] for r in ranks) for i in range(n_reps)]
    per_rank = [{phase: _quartiles_ms(r[phase])["median_ms"] for phase in ("dispatch", "compute", "combine", "step")}
                | {k: r[k] for k in ("rows_computed", "rows_sent", "bytes_sent")} for r in ranks]
    closed = traffic(s, bytes_per_row)
    load = expert_load(s)
    busiest = max(range(len(ranks)), key=lambda r: (closed["rows_computed"][r], -r))
    total = max(1, sum(closed["rows_computed"]))
    return {"name": s.name, "fix": s.fix, "replica": list(s.replica) if s.replica else None,
            "placement": [list(r) for r in s.placement.ranks], "capacity_factor": s.capacity_factor,
            "assignments": int(s.expert_idx.numel()), "dropped": int(s.expert_idx.numel() - sum(load)), "expert_load": load,
            "ranks": per_rank, "closed_form": closed, "busiest_rank": busiest,
            "straggler": max(range(len(ranks)), key=lambda r: (per_rank[r]["compute"], -r)),  # the slowest compute
            "measured_equals_closed_form": all(r[k] == closed[k][i] for i, r in enumerate(per_rank) for k in closed),
            "busiest_share": closed["rows_computed"][busiest] / total, "step": _quartiles_ms(steps)}


# --- what the page and the benchmark compare ---------------------------------------------------------------------

CAPACITY_FACTORS = (1.0, 1.25, 2.0)
REALISTIC_D_MODEL, REALISTIC_WIDTH_FACTOR = 4096, 4  # the Latency lab's width: D 4096, expert width 4x the zoo's (256 -> 1024)


def realistic_scale(n_experts: int, top_k: int, zoo_d_expert: int) -> LabScale:
    """The Latency lab's scale for a zoo member's routing: D 4096, experts 4x as wide as the zoo's, float32."""
    return LabScale(REALISTIC_D_MODEL, REALISTIC_WIDTH_FACTOR * zoo_d_expert, n_experts, top_k)


def with_fixes(name: str, expert_idx: torch.Tensor, gate_weights: torch.Tensor, n_experts: int, n_ranks: int,
               capacities: tuple[float, ...] = CAPACITY_FACTORS) -> list[Scenario]:
    """A routing under the default placement, then each fix: a placement balanced greedily by this load, the
    hottest expert replicated, and each capacity factor (default placement)."""
    default = Placement.contiguous(n_experts, n_ranks)
    base = Scenario(name, expert_idx, gate_weights, default)
    load = expert_load(base)
    replicated, hot, rank = hottest_replicated(default, load)
    out = [base, Scenario(name, expert_idx, gate_weights, greedy_placement(load, n_ranks), fix="greedy"),
           Scenario(name, expert_idx, gate_weights, replicated, fix="replicated", replica=(hot, rank))]
    return out + [Scenario(name, expert_idx, gate_weights, default, capacity_dropped(expert_idx, c, n_experts), c, "capacity")
                  for c in capacities]


def shipped_run() -> dict | None:
    """The shipped full benchmark run (plain data), or None where it was never run or cannot be read."""
    try:
        return json.loads(SHIPPED.read_text())
    except (OSError, ValueError):
        return None
