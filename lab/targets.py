"""The latency targets (issue #18), judged on a lab run's rows and decode models, in the current language:
the benchmark writes them into its results, and the page rebuilds them from a stored run for each reader."""
from __future__ import annotations

from lab.roofline import best_moe, speedup
from lab.variants import LabScale
from text import tr


def verdict_word(holds: bool | None) -> str:
    """A target's state in the current language: met, missed, or not decided (holds None: the run was noise)."""
    return tr("not decided") if holds is None else tr("met") if holds else tr("missed")


def targets(rows: list[dict], decode: list[dict], scale: LabScale, ceiling: float) -> list[dict]:
    """Each target with the measured value and whether it holds (True, False, or None where the run cannot decide;
    decode: decode_models rows; ceiling in FLOP/s)."""
    out = []
    best_pre = best_moe(rows, "prefill")
    peer = {r["tokens"]: r for r in rows if r["phase"] == "prefill" and r["variant"] == "hf-mixtral"}
    if peer:
        ratios = {n: speedup(peer[n], best_pre[n]) for n in peer if n in best_pre}
        out.append({"target": tr("best MoE backend no slower than the transformers peer at every token count (peer time / "
                                 "ours, median of paired repetitions)"),
                    "measured": ", ".join(f"{n}: {with_spread(*ratios[n], 1.0)}" for n in sorted(ratios)),
                    "holds": all_hold([decided(*ratios[n], 1.0) for n in ratios])})
    fractions = {n: r["gflop_per_s"] * 1e9 / ceiling for n, r in best_pre.items() if n >= 4096}
    if fractions:  # a plan without 4096-token prefill (the quick one) does not judge it
        above = any(v > 1.0 for v in fractions.values())
        out.append({"target": tr("prefill at 4096 tokens reaches >= 80% of the matmul ceiling on active FLOPs"),
                    "measured": ", ".join(f"{n}: {100 * v:.1f}%" for n, v in sorted(fractions.items()))
                                + (tr(" (above the ceiling measured in this run: the machine's speed moved, so this is noise "
                                      "and the run does not decide the target)") if above else ""),
                    "holds": None if above else all(v >= 0.8 for v in fractions.values())})
    batch_one = [m for m in decode if m["batch"] == 1]
    if batch_one:
        goal = 0.8 * scale.n_experts / scale.top_k
        first = batch_one[0]
        active = (tr("; a dense layer of the active width reaches {ratio:.2f}x", ratio=first["dense_active"])
                  if first["dense_active"] else "")
        out.append({"target": tr("batch-1 decode speedup over dense-total >= 0.8 x E/K = {goal:.1f}", goal=goal),
                    "measured": f"{with_spread(first['measured'], first['measured_iqr'], goal)} ({first['backend']}){active}",
                    "holds": decided(first["measured"], first["measured_iqr"], goal)})
    return out


def decided(ratio: float, iqr: tuple[float, float] | None, goal: float) -> bool | None:
    """Whether `ratio` reaches `goal`; None where the goal lies strictly inside the ratio's interquartile range
    (the goal lies within the middle half of the paired repetitions' ratios: the run does not decide)."""
    if iqr is not None and iqr[0] < goal < iqr[1]:
        return None
    return ratio >= goal


def all_hold(verdicts: list[bool | None]) -> bool | None:
    """Several judgements as one: missed if any is missed, else not decided if any is undecided, else met."""
    return False if False in verdicts else None if None in verdicts else True


def with_spread(ratio: float, iqr: tuple[float, float] | None, goal: float) -> str:
    """'1.23x (IQR 1.10-1.30)', noting when the goal lies inside the interquartile range (the run then
    does not decide the target)."""
    if iqr is None:
        return f"{ratio:.2f}x"
    if decided(ratio, iqr, goal) is None:
        return tr("{ratio:.2f}x (IQR {low:.2f}-{high:.2f}; the goal lies inside it: not decided by this run)",
                  ratio=ratio, low=iqr[0], high=iqr[1])
    return tr("{ratio:.2f}x (IQR {low:.2f}-{high:.2f})", ratio=ratio, low=iqr[0], high=iqr[1])
