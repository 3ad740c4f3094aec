"""Views of a specialisation report (models/specialisation.py, as a dict): domain shares, repeat
rates against their baselines, co-activation, router confidence and each expert's top tokens."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def _layer(report: dict, layer: int) -> dict:
    return report["layers"][max(0, min(int(layer), len(report["layers"]) - 1))]


def domain_figure(report: dict, layer: int) -> go.Figure:
    """Groups x experts: share of the group's assignments each expert receives, relative to uniform."""
    stats, e = _layer(report, layer), report["n_experts"]
    groups = list(stats["shares"])
    ratio = [[share * e for share in stats["shares"][g]] for g in groups]
    fig = go.Figure(go.Heatmap(
        z=ratio, x=[f"e{i}" for i in range(e)], y=groups, zmin=0, zmax=3, colorscale="RdBu_r", zmid=1,
        text=[[f"{100 * s:.1f}%" for s in stats["shares"][g]] for g in groups], texttemplate="%{text}",
        colorbar=dict(title="× uniform"),
        hovertemplate="%{y}, expert %{x}: %{text} of assignments (%{z:.2f} × uniform)<extra></extra>"))
    fig.update_layout(title=f"Which experts each domain uses, layer {stats['layer']} (uniform = {100 / e:.1f}%)",
                      height=120 + 45 * len(groups), margin=dict(l=90, r=20, t=50, b=40))
    return fig


def repeat_figure(report: dict, layer: int) -> go.Figure:
    """Neighbouring tokens sharing an expert, measured vs baselines, per group."""
    stats = _layer(report, layer)
    groups = list(stats["repeats"])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("same first-choice expert", f"any shared top-{report['top_k']} expert"))
    series = [("measured", "first", "any", "#f28e2b"), ("shuffled order", "shuffled_first", "shuffled_any", "#4e79a7"),
              ("load-implied (Σp²)", "load_first", None, "#59a14f")]
    for label, first_key, any_key, colour in series:
        fig.add_trace(go.Bar(name=label, x=groups, y=[stats["repeats"][g][first_key] for g in groups], marker_color=colour,
                             legendgroup=label), row=1, col=1)
        if any_key:
            fig.add_trace(go.Bar(name=label, x=groups, y=[stats["repeats"][g][any_key] for g in groups], marker_color=colour,
                                 legendgroup=label, showlegend=False), row=1, col=2)
    fig.add_hline(y=stats["uniform_first"], line_dash="dash", row=1, col=1, annotation_text="uniform 1/E")
    fig.add_hline(y=stats["uniform_any"], line_dash="dash", row=1, col=2, annotation_text="uniform")
    fig.update_yaxes(title_text="share of neighbour pairs", range=[0, 1])
    fig.update_layout(barmode="group", title=f"Do neighbouring tokens go to the same expert? Layer {stats['layer']}",
                      height=360, margin=dict(l=60, r=20, t=70, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def coactivation_figure(report: dict, layer: int) -> go.Figure:
    stats, e = _layer(report, layer), report["n_experts"]
    z = [[None if i == j else 100 * v for j, v in enumerate(row)] for i, row in enumerate(stats["coactivation"])]
    fig = go.Figure(go.Heatmap(z=z, x=[f"e{i}" for i in range(e)], y=[f"e{i}" for i in range(e)], colorscale="Viridis",
                               colorbar=dict(title="% of tokens"),
                               hovertemplate="experts %{y} and %{x} chosen together: %{z:.1f}% of tokens<extra></extra>"))
    fig.update_layout(title=f"Experts chosen together for the same token, layer {stats['layer']}", height=380,
                      yaxis=dict(autorange="reversed"), margin=dict(l=60, r=20, t=50, b=40))
    return fig


def confidence_figure(report: dict, layer: int) -> go.Figure:
    stats, e = _layer(report, layer), report["n_experts"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("top-1 router probability", f"router entropy (nats, max ln {e} = {math.log(e):.2f})"))
    for g, hist in stats["top1_hist"].items():
        bins = len(hist)
        fig.add_trace(go.Scatter(x=[(i + 0.5) / bins for i in range(bins)], y=[100 * h for h in hist], name=g,
                                 legendgroup=g, mode="lines"), row=1, col=1)
        hi = math.log(e)
        fig.add_trace(go.Scatter(x=[(i + 0.5) * hi / bins for i in range(bins)], y=[100 * h for h in stats["entropy_hist"][g]],
                                 name=g, legendgroup=g, mode="lines", showlegend=False), row=1, col=2)
    fig.update_yaxes(title_text="% of tokens")
    fig.update_layout(title=f"How confident is the router? Layer {stats['layer']}", height=340,
                      margin=dict(l=60, r=20, t=70, b=40))
    return fig


def top_tokens_table(report: dict, layer: int) -> pd.DataFrame:
    stats = _layer(report, layer)
    return pd.DataFrame([{"expert": f"e{x}", "tokens most often routed here (share of the token's occurrences)":
                          ", ".join(f"'{t}' {s:.0%}" for t, _, s in tokens) or "(no token seen often enough)"}
                         for x, tokens in enumerate(stats["top_tokens"])])
