"""Training on several processes with torchrun (DistributedDataParallel; gloo on CPU, nccl on GPU).

Every rank draws the same global batch from the same seeded sampler and trains on its own slice of the
rows; DDP averages the gradients, which equals the gradient of the global batch's mean loss. The logged
loss is averaged over ranks, and a bias-balanced router's expert counts are summed over ranks, so every
rank moves its bias the same way. The load-balancing loss is computed per rank on its own tokens, as
GShard and Switch do per device (its value then differs slightly from one process on the whole batch).
One process (no torchrun) is the same code with every step below an identity.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from models.transformer import Transformer


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Ranks":
        """The ranks torchrun describes in the environment (RANK, WORLD_SIZE); joins the process group."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(dist.get_rank(), world)

    def local_rows(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's slice of the global batch (B, ...) -> (B / world, ...)."""
        if self.world == 1:
            return batch
        if batch.shape[0] % self.world:
            raise ValueError(f"the batch of {batch.shape[0]} rows does not split over {self.world} ranks")
        size = batch.shape[0] // self.world
        return batch[self.rank * size : (self.rank + 1) * size]

    def wrap(self, model: Transformer) -> nn.Module:
        # an MoE's experts that no token of a rank chose get no gradient there: find_unused_parameters
        if self.world == 1:
            return model
        return nn.parallel.DistributedDataParallel(model, find_unused_parameters=model.cfg.is_moe)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            value = value.detach().clone()
            dist.all_reduce(value)
            value /= self.world
        return value

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            value = value.clone()
            dist.all_reduce(value)
        return value

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
