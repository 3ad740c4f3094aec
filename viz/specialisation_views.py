"""Views of a specialisation report (backend/specialisation.py, as a dict): domain shares, repeat
rates against their baselines, co-activation, router confidence, each expert's top tokens, and the
findings in words, computed from the report's numbers."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from text import tr
from viz import wrapped

GROUP_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2")


def _layer(report: dict, layer: int) -> dict:
    return report["layers"][max(0, min(int(layer), len(report["layers"]) - 1))]


def domain_figure(report: dict, layer: int) -> go.Figure:
    """Groups x experts: share of the group's assignments each expert receives, relative to that expert's
    share of all groups pooled (1 = the domain uses it as much as the text overall does); hover adds what
    the token-identity lookup router predicts for the same first choices."""
    stats, e = _layer(report, layer), report["n_experts"]
    groups, pooled = list(stats["shares"]), stats["pooled_shares"]
    ratio = [[s / p if p > 0 else None for s, p in zip(stats["shares"][g], pooled)] for g in groups]
    pooled_first = [sum(stats["first_shares"][g][i] for g in groups) / len(groups) for i in range(e)]
    lookup = [[f"{100 * stats['first_shares'][g][i]:.1f}% / {100 * stats['lookup_first_shares'][g][i]:.1f}%" for i in range(e)]
              for g in groups]
    fig = go.Figure(go.Heatmap(
        z=ratio, x=[f"e{i}" for i in range(e)], y=[tr(g) for g in groups], zmin=0, zmax=3, colorscale="RdBu_r", zmid=1,
        text=[[f"{100 * s:.1f}%" for s in stats["shares"][g]] for g in groups], texttemplate="%{text}", customdata=lookup,
        colorbar=dict(title=tr("× pooled load")),
        hovertemplate="%{y}, " + tr("expert") + " %{x}: %{text} " + tr("of assignments") + ", %{z:.2f} " + tr("× its pooled share")
                      + "<br>" + tr("first choices measured / predicted by token identity alone:") + " %{customdata}<extra></extra>"))
    fig.update_layout(title=wrapped(tr("Which experts each domain uses, layer {layer} (colour: share / the expert's share over all domains; "
                               "pooled first-choice shares {shares})", layer=stats["layer"],
                               shares=", ".join(f"{100 * p:.0f}%" for p in pooled_first))),
                      height=170 + 45 * len(groups), margin=dict(l=90, r=20, t=95, b=40), title_font_size=12)
    return fig


def repeat_figure(report: dict, layer: int) -> go.Figure:
    """Neighbouring tokens sharing an expert, measured vs baselines, per group."""
    stats = _layer(report, layer)
    groups = list(stats["repeats"])
    fig = make_subplots(rows=1, cols=2, subplot_titles=(tr("same first-choice expert"),
                                                        tr("any shared top-{k} expert", k=report["top_k"])))
    series = [("measured", "first", "any", "#f28e2b"), ("shuffled order", "shuffled_first", "shuffled_any", "#4e79a7"),
              ("load-implied (Σp²)", "load_first", None, "#59a14f"), ("token-identity lookup", "lookup_first", None, "#b07aa1")]
    names = [tr(g) for g in groups]
    for label, first_key, any_key, colour in series:
        label = tr(label)
        fig.add_trace(go.Bar(name=label, x=names, y=[stats["repeats"][g][first_key] for g in groups], marker_color=colour,
                             legendgroup=label), row=1, col=1)
        if any_key:
            fig.add_trace(go.Bar(name=label, x=names, y=[stats["repeats"][g][any_key] for g in groups], marker_color=colour,
                                 legendgroup=label, showlegend=False), row=1, col=2)
    fig.add_hline(y=stats["uniform_first"], line_dash="dash", row=1, col=1, annotation_text=tr("uniform 1/E"))
    fig.add_hline(y=stats["uniform_any"], line_dash="dash", row=1, col=2, annotation_text=tr("uniform"))
    fig.update_yaxes(title_text=tr("share of neighbour pairs"), range=[0, 1])
    fig.update_layout(barmode="group", title=tr("Do neighbouring tokens go to the same expert? Layer {layer}", layer=stats["layer"]),
                      height=360, margin=dict(l=60, r=20, t=70, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def coactivation_figure(report: dict, layer: int) -> go.Figure:
    stats, e = _layer(report, layer), report["n_experts"]
    z = [[None if i == j else 100 * v for j, v in enumerate(row)] for i, row in enumerate(stats["coactivation"])]
    fig = go.Figure(go.Heatmap(z=z, x=[f"e{i}" for i in range(e)], y=[f"e{i}" for i in range(e)], colorscale="Viridis",
                               colorbar=dict(title=tr("% of tokens")),
                               hovertemplate=tr("experts") + " %{y} / %{x} " + tr("chosen together") + ": %{z:.1f}"
                                             + tr("% of tokens") + "<extra></extra>"))
    fig.update_layout(title=wrapped(tr("Experts chosen together for the same token, layer {layer}", layer=stats["layer"])), height=380,
                      yaxis=dict(autorange="reversed"), margin=dict(l=60, r=20, t=50, b=40))
    return fig


def confidence_figure(report: dict, layer: int) -> go.Figure:
    stats, e = _layer(report, layer), report["n_experts"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=(tr("top-1 router probability"),
                                        tr("router entropy (nats; max ln {e} = {max:.2f})", e=e, max=math.log(e))))
    for i, (g, hist) in enumerate(stats["top1_hist"].items()):
        bins, colour = len(hist), GROUP_COLOURS[i % len(GROUP_COLOURS)]  # one colour per group in both panels
        fig.add_trace(go.Scatter(x=[(j + 0.5) / bins for j in range(bins)], y=[100 * h for h in hist], name=tr(g),
                                 legendgroup=g, mode="lines", line=dict(color=colour)), row=1, col=1)
        hi = math.log(e)
        fig.add_trace(go.Scatter(x=[(j + 0.5) * hi / bins for j in range(bins)], y=[100 * h for h in stats["entropy_hist"][g]],
                                 name=tr(g), legendgroup=g, mode="lines", showlegend=False, line=dict(color=colour)), row=1, col=2)
    fig.update_yaxes(title_text=tr("% of tokens"))
    fig.update_layout(title=wrapped(tr("How confident is the router? Layer {layer}", layer=stats["layer"])), height=340,
                      margin=dict(l=60, r=20, t=70, b=40))
    return fig


def top_tokens_table(report: dict, layer: int) -> pd.DataFrame:
    stats = _layer(report, layer)
    return pd.DataFrame([{tr("expert"): f"e{x}", tr("tokens most often routed here (share of the token's occurrences)"):
                          ", ".join(f"'{t}' {s:.0%}" for t, _, s in tokens) or tr("(no token seen often enough)")}
                         for x, tokens in enumerate(stats["top_tokens"])])


def findings_text(report: dict) -> str:
    """What is and is not found, in words computed from the report: how much token identity explains, and
    how much the domain adds beyond it against the permutation null."""
    layers = report["layers"]
    lookup = [l["lookup_accuracy"] for l in layers]
    lines = [tr("**What the numbers show for {model}** (held-out text, first choices):", model=report["model"]),
             tr("- **Token identity explains most routing**: a lookup router that sends each token to its most frequent expert "
                "(fit on half the text, scored on the other half) predicts {shares} of first choices in layers {layers} "
                "(chance: {chance:.1f}%).", shares=", ".join(f"{100 * a:.0f}%" for a in lookup),
                layers=", ".join(str(l["layer"]) for l in layers), chance=100 / report["n_experts"])]
    info = [l["domain_information"] for l in layers]
    if all(i is not None for i in info):
        real = [l["layer"] for l, i in zip(layers, info) if i["measured"] > i["null_p95"]]
        domains = len(report["tokens"])
        largest = max(i["beyond_null"] for i in info)
        lines.append(
            tr("- **Domain beyond token identity**: I(expert; domain | token) = {measured} nats by layer, against {null} when the "
               "domain labels are shuffled among each token's occurrences (mean of {n} shuffles; the most it could be is ln "
               "{domains} = {most:.2f}). ", measured=", ".join(f"{i['measured']:.3f}" for i in info),
               null=", ".join(f"{i['null_mean']:.3f}" for i in info), n=info[0]["permutations"], domains=domains,
               most=math.log(domains))
            + (tr("Above the shuffles' 95th percentile in layers {layers}: the same token is routed somewhat differently in "
                  "different domains, most in the deepest layers (largest {largest:.3f} nats, {share:.0f}% of the domain's "
                  "entropy).", layers=", ".join(map(str, real)), largest=largest, share=100 * largest / math.log(domains))
               if real else tr("Nowhere above the null: the domain adds nothing measurable beyond the tokens themselves.")))
        lines.append(tr("- So these are **not topic experts**: most of what looks like a 'Russian' or 'code' expert is a "
                        "preference for the tokens those texts contain. Mixtral (Jiang et al. 2024, §5) found no obvious "
                        "topic-based expert assignment, only syntactic regularities; OLMoE (Muennighoff et al. 2024) reports "
                        "domain and vocabulary specialisation in its experts. What we find sits between: token-level routing "
                        "with a small, measurable domain effect")
                     + (tr(" in the deeper layers.") if real else tr(", here none.")))
    return "\n".join(lines)
