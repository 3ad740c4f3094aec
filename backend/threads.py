"""How many torch threads a process may use without oversubscribing the cores.

torch's threads spin while they wait, so more threads than free cores does not share the machine, it
thrashes it: on a busy 2-core machine 2 threads trained at ~112 tokens/s against ~5,000 with 1. The
rule everywhere (app, benchmarks, training): concurrent workers x torch threads <= the cores this
process may use, and a job that starts beside other work takes only the cores nobody else is using.
"""
from __future__ import annotations

import time

import torch

from backend.reliability import available_cores, watch


def threads_for_workers(workers: int) -> int:
    """Torch threads per worker so that workers x threads <= available cores (at least 1)."""
    return max(1, available_cores() // max(1, workers))


def free_cores(seconds: float = 0.5) -> int:
    """Cores not used by other processes, measured over `seconds` (at least 1)."""
    with watch() as watched:
        time.sleep(seconds)
    return max(1, round(available_cores() - watched.competing_cores()))


def use_free_cores() -> int:
    """Set torch's threads to the free cores (for a benchmark or a training run); returns the count."""
    threads = free_cores()
    torch.set_num_threads(threads)
    return threads
