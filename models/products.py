"""CPU-specific product tuning, in one place: how x w^T is computed for a given number of rows.

Every SwiGLU product of the dense FFN and of the experts goes through `linear`, so this is the only
code that knows about the CPU's matrix kernels. The choice below was measured on this project's CPU
(MKL on a 2-core AMD EPYC, caches flushed; the `orientation` table in benchmarks/results/latency.md
times one expert's work each way, `python -m benchmarks.latency` re-measures it). The results are the
same numbers either way; only the speed differs.

Shapes: M rows, D input width, F output width.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WEIGHT_STATIONARY_MAX_ROWS = 128


def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x (M, D), w (F, D) contiguous -> x w^T (M, F), computed the way that runs fastest for M rows.

    Few rows make the product bound by reading w:
    - one row: MKL's matrix-vector product runs on one thread and streams w at about half the machine's
      bandwidth, so w's rows are split into blocks and one batched product spreads them over the threads;
    - up to WEIGHT_STATIONARY_MAX_ROWS rows: the weight-stationary form (w x^T)^T, faster than x w^T;
    - more rows: x w^T (F.linear), whose row-major result is also cheaper for the rows that read it next.
    The result may be a transposed view; elementwise ops keep that layout, so the next product gets a
    contiguous operand."""
    rows = x.shape[0]
    if rows == 1:
        blocks = math.gcd(w.shape[0], 2 * torch.get_num_threads())
        return torch.bmm(w.view(blocks, -1, w.shape[1]), x.t().expand(blocks, -1, -1)).reshape(1, -1)
    if rows <= WEIGHT_STATIONARY_MAX_ROWS:
        return (w @ x.t()).t()
    return F.linear(x, w)
