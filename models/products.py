"""CPU-specific product tuning, in one place: how x w^T is computed for a given number of rows.

Every SwiGLU product of the dense FFN and of the experts goes through `linear`, so this is the only
code that knows about the CPU's matrix kernels. The results are the same numbers either way (to float
rounding); only the speed differs. The machines differ: on a 2-core AMD EPYC (MKL's one-row product on one
thread) splitting the weight into row blocks ran a one-row product 2x faster; on a 2-core Intel Xeon the
split was 3x slower for some shapes and 6x faster for others. So the one-row form is not assumed: it is
timed once per weight shape on the machine itself, the first time that shape is seen (`single_row_form`).
The same holds for a few rows: where the weight-stationary form (w x^T)^T stops paying differs (the Intel
kind: from about 64 rows; the AMD kinds: beyond 256), so without gradients it is timed once per weight
shape and power-of-two row count up to CALIBRATED_MAX_ROWS (`multi_row_form`). With gradients (training)
the rule stays fixed, so that a run's numbers never depend on a timing (a resumed run equals an
uninterrupted one bit for bit). The `orientation` table of benchmarks/results/latency.md times one
expert's work each way.

Shapes: M rows, D input width, F output width.
"""
from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

WEIGHT_STATIONARY_MAX_ROWS = 128  # the fixed rule with gradients: (w x^T)^T up to here, then x w^T
CALIBRATED_MAX_ROWS = 1024  # without gradients the form is timed up to here; above, x w^T (compute-bound)
CALIBRATION_REPEATS = 7


def row_blocks(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """One row x (1, D) times w^T, w's rows split into blocks and one batched product over them, so that
    every thread streams a share of w."""
    blocks = math.gcd(w.shape[0], 2 * torch.get_num_threads())
    return torch.bmm(w.view(blocks, -1, w.shape[1]), x.t().expand(blocks, -1, -1)).reshape(1, -1)


def weight_stationary(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(w x^T)^T: a transposed view of the result; elementwise ops keep that layout."""
    return (w @ x.t()).t()


_WIDE: list[torch.Tensor] = []  # float32 buffers the products widen their weights into, one per call in flight
_WIDE_LOCK = threading.Lock()


def upcast(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x w^T computed in float32 and rounded back to x's dtype: on a CPU without bf16 units a bf16 product runs
    emulated (measured on a 2-core AMD EPYC Zen 3: one OLMoE layer's experts 1,385 -> 551 ms for 256 tokens this
    way); the weights stay in their dtype in memory, only each product's operands are widened. The weight is widened
    into a reused buffer: with a fresh one per product (8 MB for an OLMoE expert matrix, 1.5 GB of new memory per
    layer) the experts of one OLMoE layer ran 40-60% slower at times, in the same process from one minute to the next
    (2-core AMD EPYC with oneDNN kept off its bf16 units: 333 ms vs 430-600 ms at 256 tokens; with the buffer a
    steady 410-420 ms)."""
    with _WIDE_LOCK:
        buffer = _WIDE.pop() if _WIDE else None
    if buffer is None or buffer.numel() < w.numel():
        buffer = torch.empty(w.numel(), dtype=torch.float32, device=w.device)
    try:
        return F.linear(x.float(), buffer[:w.numel()].view(w.shape).copy_(w)).to(x.dtype)
    finally:
        with _WIDE_LOCK:
            _WIDE.append(buffer)


FORMS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "row-blocks": row_blocks, "weight-stationary": weight_stationary, "x-wT": F.linear, "upcast": upcast}
SINGLE_ROW_FORMS = ("row-blocks", "x-wT")
MULTI_ROW_FORMS = ("weight-stationary", "x-wT")
NARROW = (torch.bfloat16, torch.float16)  # dtypes whose products may run faster widened to float32 (timed, per machine)
_CHOSEN: dict[tuple, str] = {}


def power_of_two_at_least(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1): the buckets the timed choices are kept by."""
    return 1 << (max(1, n) - 1).bit_length()


@torch.no_grad()
def _fastest(names: tuple[str, ...], w: torch.Tensor, rows: int) -> str:
    """The form among `names` with the lowest median of CALIBRATION_REPEATS timings of x (rows, D) w^T on
    w itself, once per key (weight shape, dtype, device, thread count, rows)."""
    key = (names, tuple(w.shape), w.dtype, w.device.type, torch.get_num_threads(), rows)
    if key not in _CHOSEN:
        x = torch.randn(rows, w.shape[1], dtype=w.dtype, device=w.device)
        _CHOSEN[key] = fastest({name: (lambda f: lambda: f(x, w))(FORMS[name]) for name in names}, CALIBRATION_REPEATS)
    return _CHOSEN[key]


def fastest(candidates: dict[str, Callable[[], object]], repeats: int) -> str:
    """The name of the candidate with the lowest median of `repeats` timed calls after one warm-up call each, the
    candidates taking turns in every round (so that a change of the machine's speed meets them all alike): the one
    calibration loop of models/, for product forms here and dispatch backends in experts.py."""
    for run in candidates.values():
        run()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return min(samples, key=lambda name: statistics.median(samples[name]))


def _candidates(names: tuple[str, ...], w: torch.Tensor) -> tuple[str, ...]:
    """The forms to time for this weight: a bf16 / fp16 weight on a CPU also competes widened to float32."""
    return names + ("upcast",) if w.dtype in NARROW and w.device.type == "cpu" else names


def single_row_form(w: torch.Tensor) -> str:
    """The faster one-row form for this weight on this machine (timed once per shape)."""
    return _fastest(_candidates(SINGLE_ROW_FORMS, w), w, 1)


def multi_row_form(w: torch.Tensor, rows: int) -> str:
    """The faster form for 2..CALIBRATED_MAX_ROWS rows, timed once per shape at the power of two >= rows."""
    return _fastest(_candidates(MULTI_ROW_FORMS, w), w, power_of_two_at_least(rows))


def row_major_form(w: torch.Tensor, rows: int) -> str:
    """A row-major x w^T: F.linear, or for a bf16 / fp16 weight on a CPU whichever of it and the float32 product
    measured faster here (timed once per shape at the power of two >= rows, at most 2 x CALIBRATED_MAX_ROWS)."""
    names = _candidates(("x-wT",), w)
    return names[0] if len(names) == 1 else _fastest(names, w, min(power_of_two_at_least(rows), 2 * CALIBRATED_MAX_ROWS))


def row_major_linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x w^T for a consumer that reads the result by rows (index_add_): above WEIGHT_STATIONARY_MAX_ROWS rows
    always x w^T, because index_add_ reads the transposed view of the weight-stationary form 5-12x slower than
    a row-major source (2-core AMD EPYC, 256-1024 rows of 4096: 1.9 vs 0.24 ms, 11.9 vs 0.96 ms), more than
    that form saves; with fewer rows `linear`."""
    rows = x.shape[0]
    if rows <= WEIGHT_STATIONARY_MAX_ROWS:
        return linear(x, w)
    return F.linear(x, w) if torch.is_grad_enabled() else FORMS[row_major_form(w, rows)](x, w)


def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x (M, D), w (F, D) contiguous -> x w^T (M, F), computed the way that runs fastest for M rows.

    Few rows make the product bound by reading w:
    - one row: whichever of `row_blocks` (w's rows spread over the threads) and plain x w^T measured faster
      for this shape here (see single_row_form);
    - up to CALIBRATED_MAX_ROWS rows without gradients: whichever of the weight-stationary form and x w^T
      measured faster here for this shape and about this many rows (multi_row_form); with gradients the
      weight-stationary form up to WEIGHT_STATIONARY_MAX_ROWS rows;
    - more rows: x w^T (F.linear), whose row-major result is also cheaper for the rows that read it next.
    Without gradients a bf16 / fp16 weight also competes in float32 (`upcast`): on a CPU without bf16 units that
    is several times faster; where the CPU has them, native bf16 is (both measured here, per shape and rows).
    The result may be a transposed view; elementwise ops keep that layout, so the next product gets a
    contiguous operand."""
    rows = x.shape[0]
    if rows == 1:
        return FORMS[single_row_form(w)](x, w)
    if not torch.is_grad_enabled() and rows <= CALIBRATED_MAX_ROWS:
        return FORMS[multi_row_form(w, rows)](x, w)
    if rows <= WEIGHT_STATIONARY_MAX_ROWS:
        return weight_stationary(x, w)
    return F.linear(x, w) if torch.is_grad_enabled() else FORMS[row_major_form(w, rows)](x, w)
