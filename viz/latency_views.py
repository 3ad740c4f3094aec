"""Views of latency-lab measurements (rows as dicts of lab/variants.Measurement)."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.variants import LabScale
from text import tr
from viz import HALF, wrapped


def _by_variant(rows: list[dict], phase: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        if r["phase"] == phase:
            out.setdefault(r["variant"], []).append(r)
    return {k: sorted(v, key=lambda r: r["tokens"]) for k, v in out.items()}


def log_axis(title: str, values) -> dict:
    """A log x-axis ticked at the measured sizes only (plotly's own log ticks label 2..9 of every decade,
    which crowd together on a half-width chart)."""
    return dict(title=title, type="log", tickvals=sorted(set(values)))


def times_figure(rows: list[dict], phase: str, title: str, x_title: str) -> go.Figure:
    fig = go.Figure()
    for variant, rs in _by_variant(rows, phase).items():
        fig.add_trace(go.Scatter(
            x=[r["tokens"] for r in rs], y=[r["median_ms"] for r in rs], name=variant, mode="lines+markers",
            error_y=dict(type="data", symmetric=False, array=[r["q75_ms"] - r["median_ms"] for r in rs],
                         arrayminus=[r["median_ms"] - r["q25_ms"] for r in rs]),
            hovertemplate="%{x} " + tr("tokens") + ": %{y:.3f} ms<extra>" + variant + "</extra>"))
    fig.update_layout(title=title, xaxis=log_axis(x_title, [r["tokens"] for r in rows if r["phase"] == phase]),
                      yaxis=dict(title=tr("ms per call (median, IQR)"), type="log"), height=380, margin=dict(l=60, r=20, t=50, b=40))
    return fig


def speedup_figure(models: list[dict], scale: LabScale) -> go.Figure:
    """Measured dense-total / fastest-MoE decode time against the models (rows of lab/roofline.decode_models)."""
    batches = [m["batch"] for m in models]
    fig = go.Figure([
        go.Scatter(x=batches, y=[m["measured"] for m in models], mode="lines+markers", error_y=_iqr_bars(models),
                   name=tr("measured (dense-total / fastest MoE backend)"), customdata=[m["backend"] for m in models],
                   hovertemplate=tr("batch") + " %{x}: %{y:.2f}x (%{customdata})<extra></extra>"),
        go.Scatter(x=batches, y=[m["memory_bound"] for m in models], mode="lines", line=dict(dash="dash"),
                   name=tr("memory-bound ideal: E / E(1-((E-K)/E)^B)")),
        go.Scatter(x=batches, y=[m["roofline"] for m in models], mode="lines", line=dict(dash="dashdot"),
                   name=tr("roofline: max(bytes / bandwidth, FLOPs / ceiling)")),
        go.Scatter(x=batches, y=[scale.n_experts / scale.top_k] * len(batches), mode="lines", line=dict(dash="dot"),
                   name=tr("FLOP ratio E/K = {ratio:.1f}", ratio=scale.n_experts / scale.top_k)),
    ])
    fig.add_hline(y=1, line_color="grey")
    fig.update_layout(title=wrapped(tr("Decode: MoE speedup over the parameter-matched dense layer"), HALF),
                      xaxis=log_axis(tr("batch size (tokens per call)"), batches), yaxis_title=tr("speedup (x)"),
                      height=380, margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def _iqr_bars(models: list[dict]) -> dict | None:
    """Error bars from the paired ratios' interquartile range (none for results saved without it)."""
    if not all(m.get("measured_iqr") for m in models):
        return None
    return dict(type="data", symmetric=False, array=[m["measured_iqr"][1] - m["measured"] for m in models],
                arrayminus=[m["measured"] - m["measured_iqr"][0] for m in models])


def departure_text(models: list[dict], rows: list[dict], scale: LabScale, bandwidth: float, ceiling: float) -> str:
    """Where the measured decode speedup departs from the memory-bound model and why, from the numbers."""
    e, k = scale.n_experts, scale.top_k
    rate = {(r["tokens"], r["variant"]): r["gflop_per_s"] for r in rows if r["phase"] == "decode"}
    first, last = models[0], models[-1]
    turn = 2 * ceiling / bandwidth  # tokens per call at which 2 FLOPs per 4-byte weight outrun the memory
    lines = [_first_batch_line(first),
        tr("- **The memory-bound model holds while both layers wait for memory.** The dense layer turns compute-bound from "
           "about B = 2 x ceiling / bandwidth = {turn:.0f} tokens ({ceiling:.0f} GFLOP/s, {bandwidth:.0f} GB/s measured in this "
           "run); from there the roofline model climbs back toward the FLOP ratio E/K = {ratio:.1f}.", turn=turn,
           ceiling=ceiling / 1e9, bandwidth=bandwidth / 1e9, ratio=e / k),
    ]
    off = [m for m in models if abs(m["measured"] / m["memory_bound"] - 1) > 0.25]
    if off:
        lines.append(
            tr("- **Departures of more than 25% from the memory-bound curve.** The model assumes both layers stream their "
               "weights at the machine's bandwidth ({bandwidth:.0f} GB/s); where one streams slower, the ratio moves: ",
               bandwidth=bandwidth / 1e9)
            + "; ".join(tr("batch {batch}: {measured:.2f}x measured vs {ideal:.2f}x memory-bound ({roofline:.2f}x roofline), "
                           "dense-total streams at {dense:.0f} GB/s, the MoE its {read:.1f} experts at {moe:.0f} GB/s",
                           batch=m["batch"], measured=m["measured"], ideal=m["memory_bound"], roofline=m["roofline"],
                           dense=m["dense_gbs"], read=m["experts_read"], moe=m["moe_gbs"]) for m in off) + ".")
    moe_rate, dense_rate = rate.get((last["batch"], last["backend"])), rate.get((last["batch"], "dense-total"))
    if moe_rate and dense_rate and last["measured"] < 0.8 * last["roofline"]:
        lines.append(
            tr("- **Below the roofline at batch {batch}** ({measured:.2f}x vs {roofline:.2f}x): each expert gets only about "
               "B x K/E = {rows:.0f} rows, and such thin products run at {moe:.0f} GFLOP/s on the MoE's active FLOPs against "
               "{dense:.0f} GFLOP/s for the dense layer's one wide product.", batch=last["batch"], measured=last["measured"],
               roofline=last["roofline"], rows=last["batch"] * k / e, moe=moe_rate, dense=dense_rate))
    return "\n".join(lines)


def _first_batch_line(first: dict) -> str:
    """Batch 1 against the memory-bound ideal. The ideal assumes both layers stream their weights equally
    fast, so a measured speedup above it (an MoE call shorter than K/E of the dense one) is no gain beyond
    reading fewer weights: it comes from the layers streaming at different rates, or from noise."""
    share = 100 * first["measured"] / first["memory_bound"]
    line = tr("- **Batch {batch}**: {measured:.2f}x, {share:.0f}% of the memory-bound ideal {ideal:.2f}x.", batch=first["batch"],
              measured=first["measured"], share=share, ideal=first["memory_bound"])
    if first.get("measured_iqr"):
        line += tr(" Over the repetitions, half of the paired ratios lie between {low:.2f}x and {high:.2f}x.",
                   low=first["measured_iqr"][0], high=first["measured_iqr"][1])
    if first["measured"] > 1.05 * first["memory_bound"] or first["moe_excess_ms"] < 0:
        return line + tr(" That is above the ideal, which assumes both layers stream their weights at the same rate: here "
                         "dense-total streams its weights at {dense:.0f} GB/s and the MoE its experts at {moe:.0f} GB/s, so the "
                         "ratio also counts the dense layer's slower streaming (or timing noise, when the run is marked "
                         "unreliable). It is no gain beyond reading fewer weights.", dense=first["dense_gbs"], moe=first["moe_gbs"])
    line += tr(" The MoE call takes {ms:.2f} ms longer than K/E of the dense-total call: its fixed cost (router, top-K, "
               "dispatch, and 3K separate matrix products instead of 3, each starting from cold memory).",
               ms=first["moe_excess_ms"])
    if first["batch"] == 1 and first.get("dense_active") and first["measured"] < first["dense_active"] < first["memory_bound"]:
        line += tr(" Part of that is not the MoE's: a dense layer of the MoE's active width (dense-active, the same bytes "
                   "in one layer) is only {bound:.2f}x faster than dense-total here, because smaller weights stream more "
                   "slowly on this machine; the MoE reaches {share:.0f}% of that.",
                   bound=first["dense_active"], share=100 * first["measured"] / first["dense_active"])
    return line


def roofline_figure(rows: list[dict], ceiling_gflops: float, phase: str = "prefill") -> go.Figure:
    fig = make_subplots(rows=1, cols=1)
    for variant, rs in _by_variant(rows, phase).items():
        fig.add_trace(go.Scatter(x=[r["tokens"] for r in rs], y=[100 * r["gflop_per_s"] / ceiling_gflops for r in rs],
                                 name=variant, mode="lines+markers",
                                 hovertemplate="%{x} " + tr("tokens") + ": %{y:.0f}" + tr("% of the matmul ceiling")
                                               + "<extra>" + variant + "</extra>"))
    fig.update_layout(title=wrapped(tr("Achieved FLOP/s on active weights, % of this machine's matmul ceiling ({ceiling:.0f} GFLOP/s)",
                               ceiling=ceiling_gflops), HALF),
                      xaxis=log_axis(tr("tokens per call"), [r["tokens"] for r in rows if r["phase"] == phase]), yaxis=dict(title=tr("% of ceiling"), range=[0, 110]),
                      height=380, margin=dict(l=60, r=20, t=70, b=40))
    return fig


def cache_coverage_figure(curves) -> go.Figure:
    """Share of expert look-ups served from fast memory against experts cached per layer (measured per
    layer on the text, and uniform routing). curves: backend/expert_cache.CoverageCurves."""
    n = list(range(curves.n_experts + 1))
    fig = go.Figure([go.Scatter(x=n, y=[100 * v for v in layer], mode="lines+markers", name=tr("layer {layer} (measured)", layer=i),
                                hovertemplate="%{x} " + tr("experts cached") + ": %{y:.0f}" + tr("% of look-ups") + "<extra>"
                                              + tr("layer {layer}", layer=i) + "</extra>")
                     for i, layer in enumerate(curves.measured)])
    fig.add_trace(go.Scatter(x=n, y=[100 * v for v in curves.uniform], mode="lines", name=tr("uniform routing (N/E)"),
                             line=dict(dash="dash", color="grey")))
    fig.update_layout(title=wrapped(tr("Expert look-ups served by the N most-used experts of each layer ({model}, {n} tokens of your text)",
                               model=curves.model, n=curves.tokens)),
                      xaxis=dict(title=tr("experts kept in fast memory per layer"), dtick=1),
                      yaxis=dict(title=tr("% of look-ups served"), range=[0, 101]), height=380,
                      margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def cache_speed_figure(label: str, uniform: list, skewed: list, fast_gbs: float, slow_gbs: float,
                       measured_on: str = "the zoo model") -> go.Figure:
    """Decode tokens/s (memory-bound, batch 1) against experts cached per layer: uniform routing and the
    skew measured on `measured_on`. uniform, skewed: rows of backend/expert_cache.cache_table."""
    fig = go.Figure()
    hover = ("%{x} " + tr("experts cached per layer") + ": %{y:.2f} " + tr("tokens/s") + "<br>%{customdata[0]:.1f} "
             + tr("GB in fast memory") + ", %{customdata[1]:.0f} " + tr("MB fetched per token"))
    for name, rows, dash in ((tr("uniform routing"), uniform, "dash"),
                             (tr("with the measured skew of {model}", model=measured_on), skewed, None)):
        fig.add_trace(go.Scatter(x=[r.cached for r in rows], y=[r.tokens_per_s for r in rows], mode="lines+markers", name=name,
                                 line=dict(dash=dash), customdata=[[r.fast_gb, r.fetched_mb_per_token] for r in rows],
                                 hovertemplate=hover + "<extra>" + name + "</extra>"))
    fig.update_layout(title=wrapped(tr("{label}: decode speed if only the hot experts stay in fast memory ({fast:g} GB/s fast, {slow:g} "
                               "GB/s slow; memory-bound, batch 1)", label=label, fast=fast_gbs, slow=slow_gbs)),
                      xaxis=dict(title=tr("experts kept in fast memory per MoE layer")), yaxis=dict(title=tr("tokens/s"), type="log"),
                      height=380, margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig
