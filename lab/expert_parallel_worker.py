"""One rank of an expert-parallel measurement: `python -m lab.expert_parallel_worker JOB_DIR`, started by
lab/expert_parallel.launch (which sets RANK, WORLD_SIZE and a file store to meet at) or by torchrun (RANK,
WORLD_SIZE, MASTER_ADDR, MASTER_PORT).

Reads JOB_DIR/job.json and tensors.safetensors (written by lab/expert_parallel.write_job), joins the gloo
group, builds the weights of the experts this rank holds in any scenario, then
- for each capacity factor in the job's "check": runs the whole layer (models/expert_parallel.ExpertParallelMoE,
  the zoo layer's router included) on this rank's tokens and writes the output to check{rank}.safetensors;
- times every scenario (barrier, then one step), interleaved over repetitions after warm-up, and writes
  each repetition's phase times to rank{rank}.json.
One torch thread: ranks x threads never exceed the cores (lab/expert_parallel.usable_ranks).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from lab.expert_parallel import STORE_ENV, rank_slices
from lab.variants import LabScale
from models.expert_parallel import ExpertParallelMoE, ExpertWeights, Placement, dispatch_combine
from models.zoo import read_member
from routing.options import RoutingOptions


def expert_weights(job: dict, experts: set[int]) -> tuple[ExpertWeights, torch.nn.Module | None]:
    """The weights of `experts` (views of the zoo layer's, or random from each expert's own seed) and the zoo
    layer itself (None for random weights, which have no router)."""
    spec = job["weights"]
    if "zoo" in spec:
        layer = read_member(spec["zoo"]).model.blocks[spec["layer"]].ffn
        w = layer.experts
        return {e: (w.w_gate[e].detach(), w.w_up[e].detach(), w.w_down[e].detach()) for e in experts}, layer
    scale = LabScale(**job["scale"])
    d, f, dtype = scale.d_model, scale.d_expert, scale.torch_dtype
    out = {}
    for e in sorted(experts):
        gen = torch.Generator().manual_seed(spec["seed"] * 1000 + e)
        out[e] = tuple((torch.randn(shape, generator=gen) / shape[1] ** 0.5).to(dtype) for shape in ((f, d), (f, d), (d, f)))
    return out, None


def main(job_dir: Path) -> None:
    torch.set_num_threads(1)
    store = os.environ.get(STORE_ENV)
    if store:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=int(os.environ["RANK"]),
                                world_size=int(os.environ["WORLD_SIZE"]))
    else:
        dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    job = json.loads((job_dir / "job.json").read_text())
    tensors = load_file(str(job_dir / "tensors.safetensors"))
    placements = [Placement(tuple(tuple(r) for r in s["placement"])) for s in job["scenarios"]]
    held = {e for p in placements for e in p.ranks[rank]}
    scale = LabScale(**job["scale"])
    x_all = tensors["x"].to(scale.torch_dtype)
    mine = rank_slices(x_all.shape[0], world)[rank]
    x = x_all[mine]  # (N_r, D)
    with torch.no_grad():
        weights, layer = expert_weights(job, held)
        if job["check"]:
            outputs = {}
            for capacity in job["check"]:
                placement = Placement.contiguous(layer.experts.n_experts, world)
                ep = ExpertParallelMoE.shard(layer, placement)
                outputs[f"capacity={capacity}"] = ep(x, RoutingOptions(capacity_factor=capacity))[0].contiguous()
            save_file(outputs, str(job_dir / f"check{rank}.safetensors"))
        steps = []
        for i, placement in enumerate(placements):
            dropped = tensors.get(f"s{i}.dropped")
            steps.append((tensors[f"s{i}.expert_idx"][mine], tensors[f"s{i}.gate_weights"][mine].to(scale.torch_dtype),
                          None if dropped is None else dropped[mine].bool(),
                          {e: weights[e] for e in placement.ranks[rank]}, placement))
        times: list[dict[str, list]] = [{k: [] for k in ("dispatch", "compute", "combine", "step")} for _ in steps]
        counts: list[dict] = [{} for _ in steps]
        for rep in range(job["warmup"] + job["repeats"]):
            for i in [(j + rep) % len(steps) for j in range(len(steps))]:  # rotating order
                dist.barrier()
                phases = dispatch_combine(x, *steps[i])[1]
                if rep >= job["warmup"]:
                    for k in ("dispatch", "compute", "combine", "step"):
                        times[i][k].append(getattr(phases, k))
                    counts[i] = {"rows_computed": phases.rows_computed, "rows_sent": phases.rows_sent,
                                 "bytes_sent": phases.bytes_sent}
    (job_dir / f"rank{rank}.json").write_text(json.dumps({"scenarios": [t | c for t, c in zip(times, counts)]}))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
