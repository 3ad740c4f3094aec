"""CPU-specific product tuning, in one place: how x w^T is computed for a given number of rows.

Every SwiGLU product of the dense FFN and of the experts goes through `linear`, so this is the only
code that knows about the CPU's matrix kernels. The results are the same numbers either way (to float
rounding); only the speed differs. The machines differ: on a 2-core AMD EPYC (MKL's one-row product on one
thread) splitting the weight into row blocks ran a one-row product 2x faster; on a 2-core Intel Xeon the
split was 3x slower for some shapes and 6x faster for others. So the one-row form is not assumed: it is
timed once per weight shape on the machine itself, the first time that shape is seen (`single_row_form`).
The `orientation` table of benchmarks/results/latency.md times one expert's work each way.

Shapes: M rows, D input width, F output width.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

WEIGHT_STATIONARY_MAX_ROWS = 128
CALIBRATION_REPEATS = 7


def row_blocks(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """One row x (1, D) times w^T, w's rows split into blocks and one batched product over them, so that
    every thread streams a share of w."""
    blocks = math.gcd(w.shape[0], 2 * torch.get_num_threads())
    return torch.bmm(w.view(blocks, -1, w.shape[1]), x.t().expand(blocks, -1, -1)).reshape(1, -1)


SINGLE_ROW_FORMS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"row-blocks": row_blocks, "x-wT": F.linear}
_CHOSEN: dict[tuple, str] = {}


@torch.no_grad()
def single_row_form(w: torch.Tensor) -> str:
    """The faster one-row form for this weight's shape, dtype, device and thread count on this machine:
    each form timed CALIBRATION_REPEATS times (median) on w itself, once per key."""
    key = (tuple(w.shape), w.dtype, w.device.type, torch.get_num_threads())
    if key not in _CHOSEN:
        x = torch.randn(1, w.shape[1], dtype=w.dtype, device=w.device)
        medians = {}
        for name, form in SINGLE_ROW_FORMS.items():
            form(x, w)  # warm-up
            samples = []
            for _ in range(CALIBRATION_REPEATS):
                start = time.perf_counter()
                form(x, w)
                samples.append(time.perf_counter() - start)
            medians[name] = statistics.median(samples)
        _CHOSEN[key] = min(medians, key=medians.get)
    return _CHOSEN[key]


def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x (M, D), w (F, D) contiguous -> x w^T (M, F), computed the way that runs fastest for M rows.

    Few rows make the product bound by reading w:
    - one row: whichever of `row_blocks` (w's rows spread over the threads) and plain x w^T measured faster
      for this shape here (see single_row_form);
    - up to WEIGHT_STATIONARY_MAX_ROWS rows: the weight-stationary form (w x^T)^T, faster than x w^T;
    - more rows: x w^T (F.linear), whose row-major result is also cheaper for the rows that read it next.
    The result may be a transposed view; elementwise ops keep that layout, so the next product gets a
    contiguous operand."""
    rows = x.shape[0]
    if rows == 1:
        return SINGLE_ROW_FORMS[single_row_form(w)](x, w)
    if rows <= WEIGHT_STATIONARY_MAX_ROWS:
        return (w @ x.t()).t()
    return F.linear(x, w)
