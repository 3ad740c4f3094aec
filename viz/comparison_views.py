"""Side-by-side views of the models in a report (the MoE and its dense twins): numbers table, parameters, latency, loss."""
from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backend.analysis import AnalysisReport
from backend.model_card import balancing_groups
from models.params import COMPONENTS
from text import tr
from viz import HALF, wrapped
from viz.palette import member_colour, model_colour
from viz.tables import over_seeds

COMPONENT_LABELS = {"embedding": "embedding", "attention": "attention", "norms": "norms", "router": "router",
                    "routed_experts": "experts (routed)", "shared_experts": "shared experts", "dense_ffn": "dense FFN",
                    "head": "output head"}  # English templates of the legend (text.tr translates them)


def _with_interval(value, interval, fmt: str) -> str:
    if value is None:
        return tr("n/a")
    return fmt.format(value) + ("" if interval is None else f" ({fmt.format(interval.low)}-{fmt.format(interval.high)})")


def differences_text(report: AnalysisReport) -> str:
    """The MoE against each dense twin on this text, a tie when the paired 95% interval contains 0."""
    lines = []
    for d in report.differences:
        verdict = (tr("**a tie on this text** (the interval contains 0)") if d.verdict == "tie"
                   else tr("**{model} predicts this text better**", model=d.verdict.removesuffix(" lower")))
        lines.append(tr("- {a} minus {b}: {mean:+.3f} nats/token (95% interval {low:+.3f} to {high:+.3f}): ", a=d.a, b=d.b,
                        mean=d.mean, low=d.interval.low, high=d.interval.high) + verdict)
    if not lines:
        return ""
    return tr("**Is the difference real on this text?** Paired bootstrap over its tokens (2,000 resamples; neighbouring "
              "tokens are correlated, so the intervals are if anything too narrow):") + "\n" + "\n".join(lines)


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f} M"


def comparison_table(report: AnalysisReport) -> pd.DataFrame:
    """Metrics as rows, the models as columns; units in the row labels."""
    columns = {}
    for m in report.models:
        col = {
            tr("total parameters"): _millions(m.total_params),
            tr("active parameters per token"): _millions(m.active_params),
            tr("forward FLOPs per token (this text's length)"): f"{m.flops_per_token / 1e6:.2f} MFLOP",
            tr("perplexity on this text (95% interval)"): _with_interval(m.perplexity, m.perplexity_interval, "{:.1f}"),
            tr("mean loss on this text (nats/token, 95% interval)"): _with_interval(m.mean_loss, m.loss_interval, "{:.3f}"),
        }
        if report.latency is not None:
            lat = report.latency.models[m.name]
            col[tr("prefill time (ms, median)")] = f"{lat.prefill_ms.median:.1f} ({lat.prefill_ms.low:.1f}-{lat.prefill_ms.high:.1f})"
            col[tr("decode speed (tokens/s, median)")] = (
                f"{lat.decode_tokens_per_s.median:.0f} ({lat.decode_tokens_per_s.low:.0f}-{lat.decode_tokens_per_s.high:.0f})"
            )
        columns[f"{m.name} ({m.role})"] = col
    frame = pd.DataFrame(columns)
    frame.index.name = tr("metric")
    return frame.reset_index()


def parameters_figure(report: AnalysisReport) -> go.Figure:
    """Stacked bars of total and active parameters per component for each model."""
    fig = go.Figure()
    x = [[m.name for m in report.models for _ in (0, 1)], [tr("total"), tr("active/token")] * len(report.models)]
    for component in COMPONENTS:
        values = [v for m in report.models for v in (m.total_breakdown[component], m.active_breakdown[component])]
        if any(values):
            label = tr(COMPONENT_LABELS[component])
            fig.add_trace(go.Bar(x=x, y=[v / 1e6 for v in values], name=label,
                                 hovertemplate="%{y:.3f} " + tr("M parameters") + "<extra>" + label + "</extra>"))
    fig.update_layout(barmode="stack", title=tr("Parameters stored (total) and used per token (active)"),
                      yaxis_title=tr("parameters (millions)"), height=360, margin=dict(l=60, r=20, t=50, b=60))
    return fig


def latency_figure(report: AnalysisReport) -> go.Figure:
    """Measured prefill ms and decode tokens/s, median with min-max error bars."""
    fig = go.Figure()
    if report.latency is None:
        fig.update_layout(title=wrapped(tr("Latency not measured yet")), height=320)
        return fig
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        tr("prefill, {n} tokens: ms (lower = faster)", n=report.latency.prompt_tokens),
        tr("decode: tokens/s (higher = faster)")))
    for col, attr in ((1, "prefill_ms"), (2, "decode_tokens_per_s")):
        names = [m.name for m in report.models]
        timings = [getattr(report.latency.models[n], attr) for n in names]
        fig.add_trace(go.Bar(
            x=names, y=[t.median for t in timings], marker_color=[model_colour(n, n == report.moe.name) for n in names], showlegend=False,
            error_y=dict(type="data", symmetric=False, array=[t.high - t.median for t in timings],
                         arrayminus=[t.median - t.low for t in timings]),
            hovertemplate="%{x}: %{y:.2f}<extra>" + tr("median; bars show min-max") + "</extra>"), row=1, col=col)
    fig.update_layout(height=380, margin=dict(l=60, r=20, t=95, b=40), font=dict(size=11),
                      title=dict(text=reliability_note(report.latency.reliability), font=dict(size=12)))
    fig.update_annotations(font_size=12)
    return fig


def reliability_note(reliability) -> str:
    """One line for a chart title: how far to trust the timing, and why (plotly HTML)."""
    if reliability.reliable:
        return wrapped(tr("Timed here; other processes used {used:.1f} of {cores} cores, repetitions within {spread:.0f}% of "
                          "their median", used=reliability.competing_cores, cores=reliability.cores,
                          spread=100 * reliability.worst_spread), HALF)
    lines = wrapped(tr("⚠ Unreliable timing: ") + "; ".join(reliability.reasons), HALF).split("<br>")
    return "<br>".join(f"<span style='color:#c0392b'>{line}</span>" for line in lines)


def loss_figure(report: AnalysisReport) -> go.Figure:
    """Per-token loss of every model along the text."""
    fig = go.Figure()
    positions = np.arange(len(report.tokens))
    tokens = np.array(report.tokens)
    for m in report.models:
        losses = np.array([np.nan if x is None else x for x in m.token_losses])  # numpy: validated in one step
        fig.add_trace(go.Scatter(
            x=positions, y=losses, mode="lines+markers", name=m.name, line=dict(color=model_colour(m.name, m is report.moe)),
            marker=dict(size=4), customdata=tokens,
            hovertemplate=tr("token") + " %{x} '%{customdata}': %{y:.2f} " + tr("nats") + "<extra>" + m.name + "</extra>"))
    fig.update_layout(title=wrapped(tr("How surprised each model is by each token (lower is better)")),
                      xaxis_title=tr("token position"), yaxis_title=tr("loss (nats)"), height=330,
                      margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


SCRIPTS = (("emoji", 0x1F300, 0x1FAFF), ("Chinese or Japanese characters", 0x3040, 0x9FFF), ("Greek", 0x0370, 0x03FF),
           ("Arabic", 0x0600, 0x06FF), ("Hebrew", 0x0590, 0x05FF), ("Devanagari", 0x0900, 0x097F))  # names: tr templates


def model_card_markdown(card: dict) -> str:
    """The model card as markdown: corpus, training, held-out loss per domain, what the models never saw."""
    domains = card["domains"]
    lines = [tr("**Training text** (the held-out split below is disjoint by document and never trained on):"), "",
             "| " + " | ".join(tr(h) for h in ("domain", "source", "training documents", "training bytes", "held-out bytes"))
             + " |", "|---|---|---:|---:|---:|"]
    lines += [f"| {tr(d)} | {v['source']} | {v['train_documents']:,} | {v['train_bytes']:,} | {v['eval_bytes']:,} |"
              for d, v in domains.items()]
    names = list(domains)
    seeded = any(over_seeds(m.get("seeds", {})) for m in card["members"])
    lines += ["", tr("**Models**: byte-level BPE vocabulary of {vocab:,} tokens, context {context} tokens. A uniform guess "
                     "scores ln {vocab:,} = {uniform:.2f} nats per token (perplexity {vocab:,}).", vocab=card["vocab"],
                     context=card["context"], uniform=card["uniform_loss"]), "",
              "| " + " | ".join([tr("model"), tr("what it is"), tr("total / active parameters"), tr("tokens trained")]
                               + [tr("held-out {domain} (nats/token)", domain=tr(d)) for d in names] + [tr("overall")]
                               + [tr("over seeds: mean ± std (n)")] * seeded)
              + " |", "|---|---|---|---:|" + "---:|" * (len(names) + 1 + seeded)]
    lines += [f"| {m['name']} | {tr(m['description'])} | {m['total_params'] / 1e6:.2f} M / {m['active_params'] / 1e6:.2f} M | "
              + tr("{tokens:,} ({steps} steps x {batch} x {context})", tokens=m["tokens_trained"], steps=m["steps"],
                   batch=m["batch"], context=card["context"]) + " | "
              + " | ".join(f"{m['held_out'][d]:.3f}" for d in names) + f" | {m['held_out']['overall']:.3f} |"
              + f" {over_seeds(m.get('seeds', {}))} |" * seeded for m in card["members"]]
    lines += [f"| {name} | {tr('baseline counted on the training split')} | | | "
              + " | ".join(f"{losses[d]:.3f}" for d in names) + f" | {losses['overall']:.3f} |" + " |" * seeded
              for name, losses in card.get("baselines", {}).items() if all(d in losses for d in names)]
    if seeded:
        lines += ["", tr("Other seeds: the same member and recipe retrained with other initialisations and batch orders "
                         "(the shipped checkpoint is one of them), so a gap between two members smaller than these spreads "
                         "may be luck.")]
    recipes = balancing_groups(((m["name"], m.get("balancing")) for m in card["members"]), lambda t, v: tr(t, **v))
    if recipes:
        lines += ["", tr("**Load balancing in training**: {recipes}.", recipes="; ".join(
            f"{', '.join(names)}: {recipe}" for recipe, names in recipes.items()))]
    chars = card["characters"]
    absent = [tr(name) for name, low, high in SCRIPTS if not any(low <= ord(ch) <= high for ch in chars)]
    lines += ["", tr("**What the models never saw**: the training text holds {n} distinct characters ({letters} of them "
                     "letters); no {absent} at all. The models cannot predict what they never saw: a text full of it gets "
                     "perplexities far above the uniform guess, and the page says so beside the result.", n=len(chars),
                     letters=sum(ch.isalpha() for ch in chars), absent=", ".join(absent))]
    return "\n".join(lines)


def training_curves_figure(card: dict, logs: dict) -> go.Figure:
    """Held-out loss of every member against tokens seen and against training FLOPs, and each member's gap to
    `dense` at the same step (where the MoEs pull ahead). card: the model card (backend/model_card); logs:
    {member: object with TrainLog's rows} holding held_out_loss every so many steps."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07, subplot_titles=[wrapped(tr(title), 40) for title in (
        "held-out loss vs tokens seen", "held-out loss vs training FLOPs (3 x forward)",
        "gap to dense at the same tokens (below 0: better than dense)")])
    curves = {}  # member -> {step: loss}
    for m in card["members"]:
        log = logs.get(m["name"])
        points = {r["step"] + 1: r["held_out_loss"] for r in (log.rows if log else [])
                  if "held_out_loss" in r and np.isfinite(r["held_out_loss"])}
        if points:
            curves[m["name"]] = points
    dense = curves.get("dense", {})
    for m in card["members"]:
        if m["name"] not in curves:
            continue
        steps = sorted(curves[m["name"]])
        tokens = np.array(steps, dtype=float) * m["batch"] * card["context"]
        losses = np.array([curves[m["name"]][step] for step in steps])
        line = dict(color=member_colour(m["name"]), dash=None if m["name"].startswith("moe") else "dash")
        hover = "%{x:.3s}: %{y:.3f} " + tr("nats/token") + "<extra>" + m["name"] + "</extra>"
        for col, x in ((1, tokens), (2, tokens * m["train_flops_per_token"])):
            fig.add_trace(go.Scatter(x=x, y=losses, mode="lines+markers", name=m["name"], legendgroup=m["name"],
                                     showlegend=col == 1, line=line, hovertemplate=hover), row=1, col=col)
        shared = [i for i, step in enumerate(steps) if step in dense]
        if m["name"] != "dense" and shared:
            fig.add_trace(go.Scatter(x=tokens[shared], y=[losses[i] - dense[steps[i]] for i in shared], mode="lines+markers",
                                     name=m["name"], legendgroup=m["name"], showlegend=False, line=line,
                                     hovertemplate="%{x:.3s}: %{y:+.3f} " + tr("nats/token") + "<extra>" + m["name"] + "</extra>"),
                          row=1, col=3)
    noise = [statistics.stdev(m["seeds"].values()) for m in card["members"] if len(m.get("seeds", {})) > 1]
    if noise:  # the largest seed-to-seed std of a final loss: gaps inside the band may be luck
        fig.add_hrect(y0=-max(noise), y1=max(noise), fillcolor="grey", opacity=0.2, line_width=0, row=1, col=3)
    fig.add_hline(y=0, line_color="grey", row=1, col=3)
    fig.update_xaxes(type="log")
    for col, title in ((1, "training tokens seen"), (2, "training FLOPs"), (3, "training tokens seen")):
        fig.update_xaxes(title_text=tr(title), row=1, col=col)
    fig.update_yaxes(title_text=tr("held-out loss (nats/token)"), row=1, col=1)
    fig.update_yaxes(title_text=tr("nats/token"), row=1, col=3)
    fig.update_layout(height=400, margin=dict(l=60, r=20, t=70, b=40), legend=dict(orientation="h", y=-0.2))
    return fig
