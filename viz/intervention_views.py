"""Views of routing interventions (backend/interventions.py): the top-K sweep, the per-token loss change
of an ablation or a forcing, the load after it, and the expert-importance heatmap."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backend.interventions import ImportanceReport, InterventionReport, TopKSweep
from text import tr
from viz import wrapped
from viz.palette import model_colour

LAYOUT = dict(height=380, margin=dict(l=60, r=20, t=60, b=40))
SWEEP_HEADERS = ["model", "mean loss (nats/token)", "perplexity", "active parameters (M)", "decode (tokens/s, median)"]
AFFECTED_HEADERS = ["position", "token", "loss before (nats)", "loss after (nats)", "change (nats)"]


def _timed(sweep: TopKSweep) -> bool:
    return any(p.decode_tokens_per_s for p in sweep.points)


def sweep_figure(sweep: TopKSweep) -> go.Figure:
    """Loss on this text against K, the dense twins as flat lines; measured decode speed on a second panel."""
    ks = [p.k for p in sweep.points]
    timed = _timed(sweep)
    fig = make_subplots(rows=1, cols=2 if timed else 1, subplot_titles=(
        tr("mean loss on this text (nats/token; lower is better)"),
        tr("decode speed (tokens/s, median; higher is faster)"))[: 2 if timed else 1])
    fig.add_trace(go.Scatter(x=ks, y=[p.mean_loss for p in sweep.points], mode="lines+markers", name=sweep.model,
                             line=dict(color=model_colour(sweep.model, moe=True)), customdata=[p.active_params / 1e6 for p in sweep.points],
                             hovertemplate="top-K %{x}: %{y:.3f} " + tr("nats/token") + ", %{customdata:.2f} "
                                           + tr("M active parameters") + "<extra></extra>"),
                  row=1, col=1)
    for name, p in sweep.dense.items():
        fig.add_trace(go.Scatter(x=[ks[0], ks[-1]], y=[p.mean_loss] * 2, mode="lines", name=tr("{name} ({active:.2f} M active)", name=name, active=p.active_params / 1e6),
                                 line=dict(dash="dash", color=model_colour(name))), row=1, col=1)
    fig.add_vline(x=sweep.trained_k, line_dash="dot", line_color="grey", annotation_text=tr("trained with top-{k}", k=sweep.trained_k))
    if timed:
        fig.add_trace(go.Scatter(
            x=ks, y=[p.decode_tokens_per_s for p in sweep.points], mode="lines+markers", showlegend=False,
            line=dict(color=model_colour(sweep.model, moe=True)),
            error_y=dict(type="data", symmetric=False, array=[p.decode_high - p.decode_tokens_per_s for p in sweep.points],
                         arrayminus=[p.decode_tokens_per_s - p.decode_low for p in sweep.points]),
            hovertemplate="top-K %{x}: %{y:.0f} " + tr("tokens/s") + "<extra>" + tr("min-max over repetitions") + "</extra>"),
            row=1, col=2)
        for name, p in sweep.dense.items():
            fig.add_trace(go.Scatter(x=[ks[0], ks[-1]], y=[p.decode_tokens_per_s] * 2, mode="lines", showlegend=False,
                                     line=dict(dash="dash", color=model_colour(name)),
                                     hovertemplate=f"{name}: %{{y:.0f}} " + tr("tokens/s") + "<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text=tr("experts per token (top-K)"), dtick=1)
    fig.update_layout(title=wrapped(tr("How many experts does this text need? ({n} tokens)", n=sweep.tokens)), legend=dict(orientation="h", y=-0.25),
                      **LAYOUT)
    return fig


def sweep_table(sweep: TopKSweep) -> pd.DataFrame:
    """One row per top-K and dense twin; the decode column only once the sweep was timed."""
    named = [(f"{sweep.model}, top-{p.k}", p) for p in sweep.points] + list(sweep.dense.items())
    headers = SWEEP_HEADERS if _timed(sweep) else SWEEP_HEADERS[:-1]
    rows = [(name, p.mean_loss, p.perplexity, p.active_params / 1e6, p.decode_tokens_per_s)[: len(headers)] for name, p in named]
    return pd.DataFrame(rows, columns=[tr(h) for h in headers]).round(3)


def change_figure(report: InterventionReport) -> go.Figure:
    """Per-token loss change (after - before), positive = the intervention hurt that prediction."""
    positions = list(range(len(report.tokens)))
    change = [None if b is None else a - b for b, a in zip(report.losses_before, report.losses_after)]
    fig = go.Figure(go.Bar(x=positions, y=change, customdata=report.tokens,
                           marker_color=["#e15759" if (c or 0) > 0 else "#4e79a7" for c in change],
                           hovertemplate=tr("token") + " %{x} '%{customdata}': %{y:+.3f} " + tr("nats") + "<extra></extra>"))
    fig.update_layout(title=wrapped(tr("Loss change per token: {what}", what=report.description)), xaxis_title=tr("token position"),
                      yaxis_title=tr("loss after - before (nats)"), **LAYOUT)
    return fig


def affected_table(report: InterventionReport) -> pd.DataFrame:
    rows = [(r.position, r.token, r.before, r.after, r.change) for r in report.most_affected]
    return pd.DataFrame(rows, columns=[tr(h) for h in AFFECTED_HEADERS]).round(3)


def load_change_figure(report: InterventionReport) -> go.Figure:
    """Assignments per expert and layer before and after the intervention."""
    layers, experts = len(report.load_before), len(report.load_before[0])
    fig = make_subplots(rows=1, cols=layers, subplot_titles=[tr("layer {layer}: {share:.0f}% re-routed", layer=i, share=100 * c)
                                                             for i, c in enumerate(report.changed_choices)])
    for i in range(layers):
        for label, load, colour in ((tr("before"), report.load_before[i], "#bab0ac"), (tr("after"), report.load_after[i], "#f28e2b")):
            fig.add_trace(go.Bar(x=list(range(experts)), y=load, name=label, marker_color=colour, showlegend=i == 0,
                                 hovertemplate=label + ": " + tr("expert") + " %{x}, %{y} " + tr("assignments")
                                               + "<extra>" + tr("layer {layer}", layer=i) + "</extra>"),
                          row=1, col=i + 1)
    fig.update_xaxes(title_text=tr("expert"), dtick=1)
    fig.update_layout(title=wrapped(tr("Expert load on this text (assignments) before and after; % = tokens whose experts changed")),
                      barmode="group", **LAYOUT)
    return fig


def importance_figure(report: ImportanceReport) -> go.Figure:
    """(layer, expert) heatmap of the mean loss increase when that expert alone is switched off."""
    hover = [["<br>".join(f"'{t.token}' +{t.change:.2f}" for t in cell[:3]) for cell in row] for row in report.hurt_tokens]
    fig = go.Figure(go.Heatmap(
        z=report.increase, x=[f"e{e}" for e in range(len(report.increase[0]))],
        y=[tr("layer {layer}", layer=i) for i in range(len(report.increase))],
        colorscale="RdBu", zmid=0, reversescale=True, customdata=hover, colorbar=dict(title=tr("nats/token")),
        hovertemplate="%{y}, " + tr("expert") + " %{x}: %{z:+.3f} " + tr("nats/token") + "<br>" + tr("tokens it hurts most:")
                      + "<br>%{customdata}<extra></extra>"))
    fig.update_layout(title=wrapped(tr("Expert importance on this text: loss increase when one expert is switched off ({mode}; base "
                               "{base:.3f} nats/token)", mode=report.mode, base=report.mean_before)), xaxis_title=tr("expert"),
                      yaxis=dict(autorange="reversed"), **LAYOUT)
    return fig
