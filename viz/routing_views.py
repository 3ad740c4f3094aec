"""Views of the routing in a report: token strip, layers x tokens heatmap, expert load, CSV table."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from backend.analysis import AnalysisReport
from corpus.tokenizer import CONTINUATION
from text import tr
from viz import wrapped
from viz.palette import expert_colorbar, expert_colour, text_colour


def _hover(report: AnalysisReport, layer: int, t: int) -> str:
    r = report.routing[layer]
    parts = []
    for e, w, d in zip(r.expert_idx[t], r.gate_weights[t], r.dropped[t]):
        parts.append(tr("expert {e}: {w:.2f}", e=e, w=w) + (tr(" (dropped: expert full)") if d else ""))
    label = report.tokens[t]
    if label == CONTINUATION:  # the bytes of a character that began in an earlier token
        label = tr("{mark}: the rest of the character shown on an earlier token", mark=CONTINUATION)
    return tr("token {t} '{label}', layer {layer}: ", t=t, label=label, layer=layer) + "; ".join(parts)


def token_strip_html(report: AnalysisReport, layer: int) -> str:
    """The text as tokens coloured by their first-choice expert in `layer`; hover shows top-K weights."""
    r = report.routing[layer]
    spans = []
    for t, label in enumerate(report.tokens):
        expert = r.expert_idx[t][0]
        bg = expert_colour(expert)
        dropped = all(r.dropped[t])
        style = f"background:{bg};color:{text_colour(bg)}"
        if dropped:
            style = "background:repeating-linear-gradient(45deg,#fff,#fff 3px,#e15759 3px,#e15759 5px);color:#000;text-decoration:line-through"
        spans.append(
            f'<span class="tok{" dropped" if dropped else ""}" data-pos="{t}" data-expert="{expert}" style="{style}" '
            f'title="{html.escape(_hover(report, layer, t))}">{html.escape(label)}</span>'
            + ("<br>" if label.endswith("↵") else "")  # keep the text's line structure
        )
    used = sorted({row[0] for row in r.expert_idx})
    legend = " ".join(
        f'<span class="legend" style="background:{expert_colour(e)};color:{text_colour(expert_colour(e))}">{tr("expert {e}", e=e)}</span>'
        for e in used
    )
    n_dropped = sum(all(d) for d in r.dropped)
    dropped_note = (' · <span class="legend dropped-legend">' + tr("{n} token(s) dropped by the capacity limit", n=n_dropped)
                    + "</span>") if n_dropped else ""
    return (
        '<div class="token-strip">' + "".join(spans) + "</div>"
        '<div class="strip-legend">' + tr("Layer {layer}, colour = first-choice expert: ", layer=layer) + f'{legend}{dropped_note}</div>'
    )


def routing_heatmap(report: AnalysisReport) -> go.Figure:
    """Layers x tokens, cell colour = first-choice expert; hover lists the top-K experts and weights."""
    n_experts = report.settings.n_experts
    # numpy arrays: plotly validates them in one step instead of element by element
    z = np.array([[row[0] for row in r.expert_idx] for r in report.routing])  # (L, T)
    text = np.array([[_hover(report, r.layer, t) for t in range(len(report.tokens))] for r in report.routing])
    scale = []
    for e in range(n_experts):  # discrete bands, one colour per expert
        scale += [(e / n_experts, expert_colour(e)), ((e + 1) / n_experts, expert_colour(e))]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=np.arange(len(report.tokens)), y=[tr("layer {layer}", layer=r.layer) for r in report.routing],
            text=text, hovertemplate="%{text}<extra></extra>", colorscale=scale, zmin=-0.5, zmax=n_experts - 0.5,
            colorbar=expert_colorbar(n_experts), xgap=1, ygap=2,
        )
    )
    dropped_x, dropped_y = [], []
    for r in report.routing:
        for t, d in enumerate(r.dropped):
            if all(d):
                dropped_x.append(t)
                dropped_y.append(tr("layer {layer}", layer=r.layer))
    if dropped_x:
        fig.add_trace(go.Scatter(x=dropped_x, y=dropped_y, mode="markers", name=tr("dropped"),
                                 marker=dict(symbol="x", size=9, color="black"), hoverinfo="skip"))
    fig.update_layout(
        title=tr("First-choice expert of every token in every layer"),
        xaxis=dict(title=tr("token position"), tickvals=np.arange(len(report.tokens)), ticktext=np.array(report.tokens),
                   tickangle=-60, range=[-0.5, min(len(report.tokens), 80) - 0.5]),
        yaxis=dict(autorange="reversed"), height=330, margin=dict(l=60, r=20, t=50, b=80),
    )
    return fig


def expert_load_figure(report: AnalysisReport, layer: int) -> go.Figure:
    """Share of this text's tokens sent to each expert in `layer`, against the uniform share K/E."""
    r = report.routing[layer]
    s = report.settings
    n_tokens = len(report.tokens)
    shares = [100 * c / n_tokens for c in r.load]
    uniform = 100 * s.top_k / s.n_experts
    fig = go.Figure(go.Bar(
        x=[tr("expert {e}", e=e) for e in range(s.n_experts)], y=shares,
        marker_color=[expert_colour(e) for e in range(s.n_experts)],
        hovertemplate="%{x}: %{y:.1f}" + tr("% of tokens") + "<extra></extra>",
    ))
    lines = [(uniform, tr("uniform load: {share:.1f}% (K/E)", share=uniform), "black", "dash")]
    if r.capacity is not None:
        lines.append((100 * r.capacity / n_tokens, tr("capacity: {n:.0f} tokens", n=r.capacity), "#e15759", "solid"))
    # shapes and annotations set in one layout update (add_hline per line costs tens of ms)
    fig.update_layout(
        title=tr("Expert load in layer {layer} (% of tokens that chose each expert)", layer=layer), yaxis_title=tr("% of tokens"),
        height=320, margin=dict(l=60, r=20, t=50, b=40),
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y, line=dict(color=c, dash=d)) for y, _, c, d in lines],
        annotations=[dict(xref="paper", x=1, y=y, text=t, showarrow=False, xanchor="right", yanchor="bottom")
                     for y, t, _, _ in lines],
    )
    return fig


def routing_table(report: AnalysisReport) -> pd.DataFrame:
    """One row per token, layer and choice rank: the CSV download."""
    rows = []
    for r in report.routing:
        for t, label in enumerate(report.tokens):
            for rank, (e, w, d) in enumerate(zip(r.expert_idx[t], r.gate_weights[t], r.dropped[t]), start=1):
                rows.append({"position": t, "token": label, "token_id": report.token_ids[t], "layer": r.layer,
                             "rank": rank, "expert": e, "gate_weight": round(w, 6),
                             "router_prob": round(r.probs[t][e], 6), "dropped": d})
    return pd.DataFrame(rows)


def pinned_figure(report: AnalysisReport, position: int) -> go.Figure:
    """The full router distribution of one token in every layer (layers x experts), its chosen experts marked."""
    probs = np.array([layer.probs[position] for layer in report.routing])  # (L, E)
    chosen = [[("●" if e in layer.expert_idx[position] else "") for e in range(probs.shape[1])] for layer in report.routing]
    fig = go.Figure(go.Heatmap(z=100 * probs, x=[f"e{e}" for e in range(probs.shape[1])],
                               y=[tr("layer {layer}", layer=layer.layer) for layer in report.routing], colorscale="Viridis", zmin=0, zmax=100,
                               text=chosen, texttemplate="%{text}", colorbar=dict(title=tr("router %")),
                               hovertemplate="%{y}, " + tr("expert") + " %{x}: %{z:.1f}%<extra></extra>"))
    fig.update_layout(title=wrapped(tr("Router distribution of token {position} '{token}' in every layer (● = chosen, top-{k})",
                               position=position, token=report.tokens[position], k=report.settings.top_k)),
                      yaxis=dict(autorange="reversed"),
                      height=120 + 40 * len(report.routing), margin=dict(l=70, r=20, t=50, b=40))
    return fig


def predictions_table(predictions: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    """Each model's top next-token predictions after the pinned token, with probabilities."""
    depth = max(len(p) for p in predictions.values())
    return pd.DataFrame({tr("rank"): list(range(1, depth + 1))} | {
        name: [f"'{label}' {100 * prob:.1f}%" for label, prob in preds] for name, preds in predictions.items()})
