"""Views of latency-lab measurements (rows as dicts of models/latency_lab.Measurement)."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from models.latency_lab import LabScale, ideal_decode_speedup

MOE_PREFIX = ("moe",)


def _by_variant(rows: list[dict], phase: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        if r["phase"] == phase:
            out.setdefault(r["variant"], []).append(r)
    return {k: sorted(v, key=lambda r: r["tokens"]) for k, v in out.items()}


def best_moe(rows: list[dict], phase: str) -> dict[int, dict]:
    """tokens -> the fastest of our MoE variants at that size."""
    best: dict[int, dict] = {}
    for r in rows:
        if r["phase"] == phase and r["variant"].startswith(MOE_PREFIX):
            if r["tokens"] not in best or r["median_ms"] < best[r["tokens"]]["median_ms"]:
                best[r["tokens"]] = r
    return best


def times_figure(rows: list[dict], phase: str, title: str, x_title: str) -> go.Figure:
    fig = go.Figure()
    for variant, rs in _by_variant(rows, phase).items():
        fig.add_trace(go.Scatter(
            x=[r["tokens"] for r in rs], y=[r["median_ms"] for r in rs], name=variant, mode="lines+markers",
            error_y=dict(type="data", symmetric=False, array=[r["q75_ms"] - r["median_ms"] for r in rs],
                         arrayminus=[r["median_ms"] - r["q25_ms"] for r in rs]),
            hovertemplate="%{x} tokens: %{y:.3f} ms<extra>" + variant + "</extra>"))
    fig.update_layout(title=title, xaxis=dict(title=x_title, type="log"), yaxis=dict(title="ms per call (median, IQR)", type="log"),
                      height=380, margin=dict(l=60, r=20, t=50, b=40))
    return fig


def speedup_figure(rows: list[dict], scale: LabScale, phase: str = "decode") -> go.Figure:
    """Measured dense-total / best-MoE time against the ideals, as the batch grows."""
    dense = {r["tokens"]: r for r in _by_variant(rows, phase).get("dense-total", [])}
    best = best_moe(rows, phase)
    sizes = sorted(set(dense) & set(best))
    fig = go.Figure([
        go.Scatter(x=sizes, y=[dense[b]["median_ms"] / best[b]["median_ms"] for b in sizes], mode="lines+markers",
                   name="measured (dense-total / fastest MoE backend)",
                   customdata=[best[b]["variant"] for b in sizes],
                   hovertemplate="batch %{x}: %{y:.2f}x (%{customdata})<extra></extra>"),
        go.Scatter(x=sizes, y=[ideal_decode_speedup(scale, b) for b in sizes], mode="lines", line=dict(dash="dash"),
                   name="memory-bound ideal: E / E(1-((E-K)/E)^B)"),
        go.Scatter(x=sizes, y=[scale.n_experts / scale.top_k] * len(sizes), mode="lines", line=dict(dash="dot"),
                   name=f"FLOP ratio E/K = {scale.n_experts / scale.top_k:.1f}"),
    ])
    fig.add_hline(y=1, line_color="grey")
    fig.update_layout(title=f"MoE speedup over the parameter-matched dense layer ({phase})",
                      xaxis=dict(title="tokens per call (decode: batch size)", type="log"), yaxis_title="speedup (x)",
                      height=380, margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def roofline_figure(rows: list[dict], ceiling_gflops: float, phase: str = "prefill") -> go.Figure:
    fig = make_subplots(rows=1, cols=1)
    for variant, rs in _by_variant(rows, phase).items():
        fig.add_trace(go.Scatter(x=[r["tokens"] for r in rs], y=[100 * r["gflop_per_s"] / ceiling_gflops for r in rs],
                                 name=variant, mode="lines+markers",
                                 hovertemplate="%{x} tokens: %{y:.0f}% of the matmul ceiling<extra>" + variant + "</extra>"))
    fig.update_layout(title=f"Achieved FLOP/s on active weights, % of this machine's matmul ceiling ({ceiling_gflops:.0f} GFLOP/s)",
                      xaxis=dict(title="tokens per call", type="log"), yaxis=dict(title="% of ceiling", range=[0, 110]),
                      height=380, margin=dict(l=60, r=20, t=50, b=40))
    return fig
