"""Side-by-side views of the models in a report (the MoE and its dense twins): numbers table, parameters, latency, loss."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backend.analysis import AnalysisReport
from models.params import COMPONENTS
from viz.palette import model_colour

COMPONENT_LABELS = {"embedding": "embedding", "attention": "attention", "norms": "norms", "router": "router",
                    "routed_experts": "experts (routed)", "shared_experts": "shared experts", "dense_ffn": "dense FFN",
                    "head": "output head"}


def _with_interval(value, interval, fmt: str) -> str:
    if value is None:
        return "n/a"
    return fmt.format(value) + ("" if interval is None else f" ({fmt.format(interval.low)}-{fmt.format(interval.high)})")


def differences_text(report: AnalysisReport) -> str:
    """The MoE against each dense twin on this text, a tie when the paired 95% interval contains 0."""
    lines = []
    for d in report.differences:
        verdict = (f"**a tie on this text** (the interval contains 0)" if d.verdict == "tie"
                   else f"**{d.verdict.removesuffix(' lower')} predicts this text better**")
        lines.append(f"- {d.a} minus {d.b}: {d.mean:+.3f} nats/token (95% interval {d.interval.low:+.3f} to "
                     f"{d.interval.high:+.3f}): {verdict}")
    if not lines:
        return ""
    return ("**Is the difference real on this text?** Paired bootstrap over its tokens (2,000 resamples; neighbouring "
            "tokens are correlated, so the intervals are if anything too narrow):\n" + "\n".join(lines))


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f} M"


def comparison_table(report: AnalysisReport) -> pd.DataFrame:
    """Metrics as rows, the models as columns; units in the row labels."""
    columns = {}
    for m in report.models:
        col = {
            "total parameters": _millions(m.total_params),
            "active parameters per token": _millions(m.active_params),
            "forward FLOPs per token (this text's length)": f"{m.flops_per_token / 1e6:.2f} MFLOP",
            "perplexity on this text (95% interval)": _with_interval(m.perplexity, m.perplexity_interval, "{:.1f}"),
            "mean loss on this text (nats/token, 95% interval)": _with_interval(m.mean_loss, m.loss_interval, "{:.3f}"),
        }
        if report.latency is not None:
            lat = report.latency.models[m.name]
            col["prefill time (ms, median)"] = f"{lat.prefill_ms.median:.1f} ({lat.prefill_ms.low:.1f}-{lat.prefill_ms.high:.1f})"
            col["decode speed (tokens/s, median)"] = (
                f"{lat.decode_tokens_per_s.median:.0f} ({lat.decode_tokens_per_s.low:.0f}-{lat.decode_tokens_per_s.high:.0f})"
            )
        columns[f"{m.name} ({m.role})"] = col
    frame = pd.DataFrame(columns)
    frame.index.name = "metric"
    return frame.reset_index()


def parameters_figure(report: AnalysisReport) -> go.Figure:
    """Stacked bars of total and active parameters per component for each model."""
    fig = go.Figure()
    x = [[m.name for m in report.models for _ in (0, 1)], ["total", "active/token"] * len(report.models)]
    for component in COMPONENTS:
        values = [v for m in report.models for v in (m.total_breakdown[component], m.active_breakdown[component])]
        if any(values):
            fig.add_trace(go.Bar(x=x, y=[v / 1e6 for v in values], name=COMPONENT_LABELS[component],
                                 hovertemplate="%{y:.3f} M parameters<extra>" + COMPONENT_LABELS[component] + "</extra>"))
    fig.update_layout(barmode="stack", title="Parameters stored (total) and used per token (active)",
                      yaxis_title="parameters (millions)", height=360, margin=dict(l=60, r=20, t=50, b=60))
    return fig


def latency_figure(report: AnalysisReport) -> go.Figure:
    """Measured prefill ms and decode tokens/s, median with min-max error bars."""
    fig = go.Figure()
    if report.latency is None:
        fig.update_layout(title="Latency not measured yet", height=320)
        return fig
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        f"prefill, {report.latency.prompt_tokens} tokens: ms (lower = faster)",
        "decode: tokens/s (higher = faster)"))
    for col, attr in ((1, "prefill_ms"), (2, "decode_tokens_per_s")):
        names = [m.name for m in report.models]
        timings = [getattr(report.latency.models[n], attr) for n in names]
        fig.add_trace(go.Bar(
            x=names, y=[t.median for t in timings], marker_color=[model_colour(n, n == report.moe.name) for n in names], showlegend=False,
            error_y=dict(type="data", symmetric=False, array=[t.high - t.median for t in timings],
                         arrayminus=[t.median - t.low for t in timings]),
            hovertemplate="%{x}: %{y:.2f}<extra>median; bars show min-max</extra>"), row=1, col=col)
    fig.update_layout(height=380, margin=dict(l=60, r=20, t=95, b=40), font=dict(size=11),
                      title=dict(text=reliability_note(report.latency.reliability), font=dict(size=12)))
    fig.update_annotations(font_size=12)
    return fig


def reliability_note(reliability) -> str:
    """One line for a chart title: how far to trust the timing, and why (plotly HTML)."""
    if reliability.reliable:
        return (f"Timed here; other processes used {reliability.competing_cores:.1f} of {reliability.cores} cores, "
                f"repetitions within {100 * reliability.worst_spread:.0f}% of their median")
    return "<span style='color:#c0392b'>⚠ Unreliable timing: " + "; ".join(reliability.reasons) + "</span>"


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
            hovertemplate="token %{x} '%{customdata}': %{y:.2f} nats<extra>" + m.name + "</extra>"))
    fig.update_layout(title="How surprised each model is by each token (lower is better)",
                      xaxis_title="token position", yaxis_title="loss (nats)", height=330,
                      margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


SCRIPTS = (("emoji", 0x1F300, 0x1FAFF), ("Chinese or Japanese characters", 0x3040, 0x9FFF), ("Greek", 0x0370, 0x03FF),
           ("Arabic", 0x0600, 0x06FF), ("Hebrew", 0x0590, 0x05FF), ("Devanagari", 0x0900, 0x097F))


def model_card_markdown(card: dict) -> str:
    """The model card as markdown: corpus, training, held-out loss per domain, what the models never saw."""
    domains = card["domains"]
    lines = ["**Training text** (the held-out split below is disjoint by document and never trained on):", "",
             "| domain | source | training documents | training bytes | held-out bytes |", "|---|---|---:|---:|---:|"]
    lines += [f"| {d} | {v['source']} | {v['train_documents']:,} | {v['train_bytes']:,} | {v['eval_bytes']:,} |"
              for d, v in domains.items()]
    names = list(domains)
    lines += ["", f"**Models**: byte-level BPE vocabulary of {card['vocab']:,} tokens, context {card['context']} tokens. "
              f"A uniform guess scores ln {card['vocab']:,} = {card['uniform_loss']:.2f} nats per token (perplexity {card['vocab']:,}).", "",
              "| model | what it is | total / active parameters | tokens trained | " + " | ".join(f"held-out {d} (nats/token)" for d in names)
              + " | overall |", "|---|---|---|---:|" + "---:|" * (len(names) + 1)]
    lines += [f"| {m['name']} | {m['description']} | {m['total_params'] / 1e6:.2f} M / {m['active_params'] / 1e6:.2f} M | "
              f"{m['tokens_trained']:,} ({m['steps']} steps x {m['batch']} x {card['context']}) | "
              + " | ".join(f"{m['held_out'][d]:.3f}" for d in names) + f" | {m['held_out']['overall']:.3f} |" for m in card["members"]]
    chars = card["characters"]
    absent = [name for name, low, high in SCRIPTS if not any(low <= ord(ch) <= high for ch in chars)]
    lines += ["", f"**What the models never saw**: the training text holds {len(chars)} distinct characters "
              f"({sum(ch.isalpha() for ch in chars)} of them letters); no {', '.join(absent)} at all. The models cannot predict "
              "what they never saw: a text full of it gets perplexities far above the uniform guess, and the page says so "
              "beside the result."]
    return "\n".join(lines)
