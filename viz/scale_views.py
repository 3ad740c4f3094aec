"""Views of scale reports (scale/report.py): a comparison table and plotly charts."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from text import tr
from viz import wrapped

def _b(n: float) -> str:
    return f"{n / 1e9:,.2f} B" if n >= 1e8 else f"{n / 1e6:,.2f} M"


def _gb(gb: float) -> str:
    """Two decimals, or three significant digits below 1 GB (a zoo model's 0.00197 GB is not 0.00)."""
    return f"{gb:,.2f}" if gb >= 1 else f"{gb:.3g}"


def scale_table(reports: list[dict]) -> pd.DataFrame:
    rows = []
    for r in reports:
        if r.get("unpublished"):
            rows.append({tr("model"): r["label"], tr("total parameters"): tr("architecture not published")})
            continue
        convention = r["authors_convention"]
        check = r["published"] or {}
        published = "; ".join(f"{tr(k)} {v['published']}: {tr('agrees') if v['within'] else tr('DIFFERS')}"
                              for k, v in check.items())
        rows.append({
            tr("model"): r["label"],
            tr("total parameters"): _b(r["total_params"]),
            tr("active / token (all)"): _b(r["active_params"]["all"]),
            tr("active / token (no input embedding)"): _b(r["active_params"]["no_embedding"]),
            tr("active / token (non-embedding)"): _b(r["active_params"]["non_embedding"]),
            tr("authors' convention"): tr(convention) if convention else tr("not stated"),
            tr("published figures"): published or tr("none"),
            tr("forward GFLOP / token (context {context})", context=r["context"]): f"{r['flops_per_token'] / 1e9:,.3f}",
            tr("weights bf16 / 4-bit (GB)"): f"{_gb(r['weight_gb']['bf16'])} / {_gb(r['weight_gb']['4-bit'])}",
            tr("experts (top-K)"): f"{r['experts']} (top-{r['top_k']})" if r["experts"] else tr("dense"),
        })
    return pd.DataFrame(rows).fillna("")


def unknown_fields_note(reports: list[dict]) -> str:
    """The config fields the calculator did not understand, per model (under the table; usually none)."""
    unknown = [f"{r['label']}: {', '.join(r['unknown_fields'])}" for r in reports if r.get("unknown_fields")]
    return tr("Config fields not understood (not counted): {fields}.", fields="; ".join(unknown)) if unknown else ""


def sources_markdown(reports: list[dict]) -> str:
    """What each source says, verbatim, and where: the published figures the table checks."""
    quoted = [f"- **{r['label']}**: \u201c{r['quote']}\u201d ({r['where']})" for r in reports if r.get("quote")]
    return (tr("**The sources, verbatim**") + "\n" + "\n".join(quoted)) if quoted else ""


def _computed(reports: list[dict]) -> list[dict]:
    return [r for r in reports if not r.get("unpublished")]


def params_figure(reports: list[dict]) -> go.Figure:
    rs = _computed(reports)
    labels = [r["label"] for r in rs]
    fig = go.Figure([
        go.Bar(name=tr("total"), x=labels, y=[r["total_params"] for r in rs],
               hovertemplate="%{x}: %{y:.3s} " + tr("parameters") + "<extra>" + tr("total") + "</extra>"),
        go.Bar(name=tr("active per token"), x=labels, y=[r["active_params"]["all"] for r in rs],
               hovertemplate="%{x}: %{y:.3s} " + tr("parameters") + "<extra>" + tr("active per token") + "</extra>"),
    ])
    fig.update_layout(barmode="group", title=tr("Total vs active parameters (log scale)"), yaxis_type="log",
                      yaxis_title=tr("parameters"), height=380, margin=dict(l=60, r=20, t=50, b=90))
    return fig


def memory_figure(reports: list[dict]) -> go.Figure:
    rs = _computed(reports)
    labels = [r["label"] for r in rs]
    fig = go.Figure([go.Bar(name=fmt, x=labels, y=[r["weight_gb"][fmt] for r in rs],
                            hovertemplate="%{x}: %{y:,.2f} GB<extra>" + fmt + "</extra>") for fmt in ("bf16", "fp8", "4-bit")])
    fig.update_layout(barmode="group", title=tr("Memory for the weights alone (GB, log scale)"), yaxis_type="log",
                      yaxis_title="GB", height=380, margin=dict(l=60, r=20, t=50, b=90))
    return fig


def flops_figure(reports: list[dict]) -> go.Figure:
    rs = _computed(reports)
    fig = go.Figure(go.Bar(x=[r["label"] for r in rs], y=[r["flops_per_token"] / 1e9 for r in rs],
                           hovertemplate="%{x}: %{y:,.3f} GFLOP<extra></extra>"))
    context = rs[0]["context"] if rs else ""
    fig.update_layout(title=wrapped(tr("Forward FLOPs per token at context {context} (GFLOP, log scale)", context=context)), yaxis_type="log",
                      yaxis_title="GFLOP / token", height=380, margin=dict(l=60, r=20, t=50, b=90))
    return fig


def experts_read_figure(reports: list[dict]) -> go.Figure:
    fig = go.Figure()
    for r in _computed(reports):
        if r["experts_read"]:
            batches = [int(b) for b in r["experts_read"]]
            fig.add_trace(go.Scatter(x=batches, y=[100 * v / r["experts"] for v in r["experts_read"].values()],
                                     mode="lines+markers", name=tr("{label} ({n} experts, top-{k})", label=r["label"],
                                                                   n=r["experts"], k=r["top_k"]),
                                     hovertemplate=tr("batch") + " %{x}: %{y:.0f}" + tr("% of experts read") + "<extra></extra>"))
    fig.update_layout(title=wrapped(tr("Experts read per MoE layer vs decode batch: E(1-((E-K)/E)^B)")),
                      xaxis=dict(title=tr("batch size (tokens decoded together)"), type="log"),
                      yaxis=dict(title=tr("% of experts whose weights are read"), range=[0, 105]), height=380,
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig
