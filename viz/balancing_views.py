"""Views of load-balancing runs: recorded variants (training/balancing.py), the live mini run, and
capacity limits applied to the user's text. Input: training logs (objects with the shape of
training/log.TrainLog: rows, n_layers, n_experts, steps, series, layer_mean, layer_sum, shares; this
module never imports training code) and analysis reports."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backend.analysis import AnalysisReport
from text import tr
from viz import wrapped
from viz.palette import expert_colour

def _smooth(values: list[float], window: int = 10) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v - (values[i - window] if i >= window else 0.0)
        out.append(acc / min(i + 1, window))
    return out


def load_heatmaps(logs: dict, layer: int) -> go.Figure:
    """One heatmap per variant: expert share (% of assignments) over training steps in `layer`."""
    names = list(logs)
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.04)
    for i, name in enumerate(names, start=1):
        log = logs[name]
        z = [[100 * v for v in shares] for shares in log.shares(layer)]
        fig.add_trace(go.Heatmap(z=z, x=log.steps, y=[f"e{e}" for e in range(log.n_experts)],
                                 zmin=0, zmax=50, colorscale="Viridis", showscale=i == 1,
                                 colorbar=dict(title=tr("% of tokens")),
                                 hovertemplate=tr("step") + " %{x}, " + tr("expert") + " %{y}: %{z:.1f}%<extra>" + name + "</extra>"),
                      row=i, col=1)
    fig.update_layout(title=wrapped(tr("Expert load over training, layer {layer} (uniform = {share:.1f}%)", layer=layer,
                               share=100 / logs[names[0]].n_experts)),
                      height=110 * len(names) + 80, margin=dict(l=60, r=20, t=70, b=40))
    fig.update_xaxes(title_text=tr("training step"), row=len(names), col=1)
    return fig


def curves_figure(logs: dict) -> go.Figure:
    """Load CV, dead experts and training loss over steps, one line per variant."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=(
        tr("load CV (0 = even)"), tr("dead expert slots (all layers)"), tr("training loss (nats/token)")))
    for name, log in logs.items():
        fig.add_trace(go.Scatter(x=log.steps, y=_smooth(log.layer_mean("load_cv")), name=name,
                                 legendgroup=name, mode="lines"), row=1, col=1)
        fig.add_trace(go.Scatter(x=log.steps, y=log.layer_sum("dead_experts"),
                                 name=name, legendgroup=name, mode="lines", showlegend=False), row=1, col=2)
        fig.add_trace(go.Scatter(x=log.steps, y=_smooth(log.series("loss")), name=name, legendgroup=name,
                                 mode="lines", showlegend=False), row=1, col=3)
    fig.update_xaxes(title_text=tr("training step"))
    fig.update_layout(height=400, margin=dict(l=50, r=20, t=80, b=40), legend=dict(orientation="h", y=-0.25),
                      title=dict(text=tr("Load CV = std / mean of the experts' loads; dead = share below 10% of uniform;")
                                 + "<br>" + tr("curves are 10-step means (dead slots unsmoothed)"), font=dict(size=12)))
    return fig


def final_table(summaries: dict[str, dict], versus: dict[str, dict]) -> pd.DataFrame:
    """One row per variant: means over seeds (training/balancing.variant_summary), held-out loss with its
    seed spread and its difference from the unbalanced run (versus: training/balancing.compared_with)."""
    return pd.DataFrame([{
        tr("variant"): name, tr("held-out loss (nats)"): f"{f['held_out_loss']['mean']:.3f} ± {f['held_out_loss']['std']:.3f}",
        tr("vs none"): (f"{versus[name]['difference']:+.3f} {tr(versus[name]['verdict'])}" if name in versus else ""),
        tr("load CV"): round(f["load_cv"]["mean"], 2), tr("dead slots"): f"{f['dead_experts']['mean']:.1f}/{f['expert_slots']}",
        tr("min/max share %"): f"{100 * f['min_share']['mean']:.0f}/{100 * f['max_share']['mean']:.0f}",
        tr("dropped %"): round(100 * f["dropped_fraction"]["mean"], 1), tr("seeds"): len(f["seeds"]),
    } for name, f in summaries.items()])


def variants_legend(descriptions: dict[str, str]) -> str:
    """What each variant changes, as a list under the table (a text column made the table too wide)."""
    return "\n".join(f"- **{name}**: {tr(text)}" for name, text in descriptions.items())


def balancing_findings(summaries: dict[str, dict], versus: dict[str, dict], devices: str = "") -> str:
    """What the recorded runs show and what they do not, in words computed from their numbers; devices: what the
    expert-parallel benchmark measured (viz/expert_parallel_views.device_findings), '' where it was not run."""
    if "none" not in summaries:
        return ""
    none = summaries["none"]
    lines = [tr("**What these runs show** ({steps} steps, {seeds} seeds per variant, held-out loss mean ± std):",
                steps=none["steps"], seeds=len(none["seeds"]))]
    better = [n for n, v in versus.items() if v["verdict"] == "better"]
    worse = [n for n, v in versus.items() if v["verdict"] == "worse"]
    ties = [n for n, v in versus.items() if v["verdict"] == "tie"]
    worse_text = ", ".join(f"{n} ({versus[n]['difference']:+.3f})" for n in worse)
    lines.append(tr("- **Loss**: without any balancing the model reaches {mean:.3f} ± {std:.3f} nats/token. ",
                    mean=none["held_out_loss"]["mean"], std=none["held_out_loss"]["std"])
                 + (tr("Better beyond the seed spread: {names}. ", names=", ".join(better)) if better
                    else tr("No method beats it beyond the seed spread. "))
                 + (tr("Worse: {names}. ", names=worse_text) if worse else "")
                 + (tr("Within the spread (a tie): {names}.", names=", ".join(ties)) if ties else ""))
    if "aux" in summaries:
        lines.append(tr("- **Balance**: the load-balancing loss brings the load CV from {cv:.2f} to {aux_cv:.2f} and dead expert "
                        "slots from {dead:.1f} to {aux_dead:.1f} of {slots}: it does what it says.", cv=none["load_cv"]["mean"],
                        aux_cv=summaries["aux"]["load_cv"]["mean"], dead=none["dead_experts"]["mean"],
                        aux_dead=summaries["aux"]["dead_experts"]["mean"], slots=none["expert_slots"]))
    capped = [n for n in summaries if summaries[n]["dropped_fraction"]["mean"] > 0]
    if capped:
        lines.append(tr("- **Where imbalance costs loss here: a capacity limit.** Tokens over an expert's capacity are dropped: ")
                     + "; ".join(tr("{name} drops {share:.1f}% of assignments", name=n,
                                    share=100 * summaries[n]["dropped_fraction"]["mean"])
                                 + (tr(" ({difference:+.3f} nats/token vs none)", difference=versus[n]["difference"])
                                    if n in versus else "")
                                 for n in capped)
                     + tr(". Balance decides how many are dropped; compare the losses to see what dropping costs."))
    penalty = (tr("the loss above shows no penalty for it") if not better
               else tr("here {names} lowered the loss, so imbalance did cost some quality", names=", ".join(better)))
    lines.append(tr("- **What imbalance does not cost at this scale**: with every expert on one device and no capacity limit, "
                    "an idle expert only wastes its parameters; {penalty}. Its other costs appear elsewhere: dropped tokens "
                    "under a capacity limit, and throughput when experts sit on different devices.", penalty=penalty))
    if devices:
        lines.append(tr("- **Experts on different devices** (the expert-parallel benchmark): {findings}", findings=devices))
    lines.append(tr("- **z-loss** keeps router logits small, a stability fix (ST-MoE), not a balancing one: compare aux+z with aux."))
    return "\n".join(lines)


def live_figure(log, total_steps: int) -> go.Figure:
    """Expert shares of every layer as stacked areas over the steps run so far, plus load CV."""
    if not log.rows:
        return go.Figure()
    layers, experts = log.n_layers, log.n_experts
    fig = make_subplots(rows=1, cols=layers + 1, subplot_titles=[tr("layer {layer}: expert shares", layer=i) for i in range(layers)]
                        + [tr("load CV per layer")])
    for i in range(layers):
        for e, shares in enumerate(log.shares(i)):
            fig.add_trace(go.Scatter(x=log.steps, y=[100 * v for v in shares], stackgroup=f"l{i}",
                                     name=tr("expert {e}", e=e), legendgroup=f"e{e}", showlegend=i == 0, mode="lines",
                                     line=dict(width=0.5, color=expert_colour(e))), row=1, col=i + 1)
        fig.add_trace(go.Scatter(x=log.steps, y=_smooth(log.series(f"l{i}_load_cv")), name=tr("CV layer {layer}", layer=i),
                                 mode="lines"), row=1, col=layers + 1)
    fig.update_xaxes(range=[0, total_steps], title_text=tr("step"))
    fig.update_yaxes(title_text=tr("% of assignments"), range=[0, 100], row=1, col=1)
    fig.update_layout(height=360, margin=dict(l=50, r=20, t=60, b=40))
    return fig


def capacity_figure(limited: AnalysisReport, unlimited: AnalysisReport) -> go.Figure:
    """Per-token loss of the MoE with and without the capacity limit; dropped tokens marked."""
    positions = list(range(len(limited.tokens)))
    with_cap = limited.moe.token_losses
    without = unlimited.moe.token_losses
    dropped_any = [any(all(layer.dropped[t]) for layer in limited.routing) for t in positions]
    hover = tr("token") + " %{x} '%{customdata}': %{y:.2f} " + tr("nats") + "<extra></extra>"
    fig = go.Figure([
        go.Scatter(x=positions, y=without, name=tr("no capacity limit"), mode="lines", line=dict(color="#4e79a7"),
                   customdata=limited.tokens, hovertemplate=hover),
        go.Scatter(x=positions, y=with_cap, name=tr("capacity factor {value}", value=limited.settings.capacity_factor),
                   mode="lines", line=dict(color="#e15759"), customdata=limited.tokens, hovertemplate=hover),
        go.Scatter(x=[t for t in positions if dropped_any[t]], y=[with_cap[t] for t in positions if dropped_any[t]],
                   mode="markers", name=tr("dropped in some layer"), marker=dict(symbol="x", size=8, color="black")),
    ])
    fig.update_layout(title=wrapped(tr("Per-token loss with and without the capacity limit (lower is better)")),
                      xaxis_title=tr("token position"), yaxis_title=tr("loss (nats)"), height=340,
                      margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def capacity_summary(limited: AnalysisReport, unlimited: AnalysisReport) -> str:
    t = len(limited.tokens)
    s = limited.settings
    lines = [tr("Capacity {capacity:.0f} assignments per expert for {t} tokens (capacity factor {factor} × {t} tokens × "
                "top-{k} / {n} experts).", capacity=limited.routing[0].capacity, t=t, factor=s.capacity_factor, k=s.top_k,
                n=s.n_experts)]
    for layer in limited.routing:
        full = sum(all(d) for d in layer.dropped)
        partial = sum(any(d) and not all(d) for d in layer.dropped)
        lines.append(tr("- layer {layer}: {full} token(s) dropped entirely, {partial} lost one of their experts",
                        layer=layer.layer, full=full, partial=partial))
    a, b = limited.moe.mean_loss, unlimited.moe.mean_loss
    if a is not None and b is not None:
        lines.append("\n" + tr("Mean loss {a:.3f} nats/token with the limit vs {b:.3f} without ({d:+.3f}).", a=a, b=b, d=a - b))
    return "\n".join(lines)
