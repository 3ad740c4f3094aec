"""Views of an expert-parallel measurement (lab/expert_parallel.measure's report, one width): per-rank phase
bars, rows per rank, the placements, and the sentences that name the straggler and what each fix changes.
Every number comes from the report; nothing here measures."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from backend.reliability import unreliable_because
from lab.variants import LabScale
from text import tr
from viz import wrapped

PHASES = (("dispatch", "#4e79a7"), ("compute", "#f28e2b"), ("combine", "#bab0ac"))
ROUTING_NAMES = ("balanced", "collapsed", "your text")  # the routings' names, translated when shown


def routing_label(name: str) -> str:
    """A routing's name in the reader's language: 'balanced', 'collapsed', 'your text', '<domain>, layer <L>'."""
    if ", layer " in name:
        domain, layer = name.split(", layer ")
        return tr("{domain}, layer {layer}", domain=tr(domain), layer=layer)
    return tr(name)


def scenario_label(s: dict) -> str:
    name = routing_label(s["name"])
    if s["fix"] == "greedy":
        return tr("{name}: placement balanced by this load", name=name)
    if s["fix"] == "replicated":
        expert, rank = s["replica"]
        return tr("{name}: expert {expert} copied to rank {rank}", name=name, expert=expert, rank=rank)
    if s["fix"] == "capacity":
        return tr("{name}: capacity factor {factor:g}", name=name, factor=s["capacity_factor"])
    return name


def unreliable(run: dict) -> list[str]:
    """The run's unreliability, rebuilt from its stored numbers in the reader's language ([] when reliable)."""
    r = run["reliability"]
    reasons = unreliable_because(r["competing_cores"], r["cores"], r["worst_spread"], r["calibration_drift"])
    return [tr("This run is marked unreliable: {reasons}.", reasons="; ".join(reasons))] if reasons else []


def _span(step: dict) -> str:
    return tr("{median:.1f} ms (IQR {q25:.1f}-{q75:.1f})", median=step["median_ms"], q25=step["q25_ms"], q75=step["q75_ms"])


def _find(run: dict, name: str, fix: str = "", capacity: float | None = None) -> dict | None:
    return next((s for s in run["scenarios"] if s["name"] == name and s["fix"] == fix
                 and (capacity is None or s["capacity_factor"] == capacity)), None)


def fixes_text(run: dict, name: str) -> str:
    """What each fix does to one routing's step: the copy of the hottest expert, the greedy placement, capacity 1.0."""
    base = _find(run, name)
    if base is None:
        return ""
    parts = []
    replicated, greedy, capped = _find(run, name, "replicated"), _find(run, name, "greedy"), _find(run, name, "capacity", 1.0)
    ms = base["step"]["median_ms"]
    if replicated:
        expert, rank = replicated["replica"]
        parts.append(tr("copying expert {expert} to rank {rank} makes the step {step} ({ratio:.2f}x the time as routed)",
                        expert=expert, rank=rank, step=_span(replicated["step"]), ratio=replicated["step"]["median_ms"] / ms))
    if greedy:
        parts.append(tr("a placement balanced by this load, {step} ({ratio:.2f}x)", step=_span(greedy["step"]),
                        ratio=greedy["step"]["median_ms"] / ms))
    if capped:
        parts.append(tr("a capacity factor of 1.0, {step} ({ratio:.2f}x), but it drops {dropped} of {total} assignments",
                        step=_span(capped["step"]), ratio=capped["step"]["median_ms"] / ms, dropped=capped["dropped"],
                        total=capped["assignments"]))
    return "; ".join(parts)


def straggler_text(run: dict, s: dict) -> str:
    """Who the straggler is in one scenario (the rank whose experts took longest), how long the others wait for it."""
    slow, rows = s["straggler"], s["closed_form"]["rows_computed"]
    waits = [r["combine"] for i, r in enumerate(s["ranks"]) if i != slow]
    return tr("rank {rank} (experts {experts}) computes {rows} of {total} rows ({share:.0f}%) in {compute:.1f} ms: it is the "
              "straggler; the step takes {step}, and the other rank waits {wait:.1f} ms of it in the combine all-to-all, its "
              "experts idle", rank=slow, experts=", ".join(map(str, s["placement"][slow])), rows=rows[slow],
              total=sum(rows), share=100 * rows[slow] / max(1, sum(rows)), compute=s["ranks"][slow]["compute"],
              step=_span(s["step"]), wait=max(waits, default=0.0))


def weight_bound_text(run: dict, name: str) -> str:
    """Why copying an expert cost time where it did: few rows per expert, so each expert's time is reading its weights."""
    base, replicated = _find(run, name), _find(run, name, "replicated")
    if base is None or replicated is None or replicated["step"]["median_ms"] <= 1.05 * base["step"]["median_ms"]:
        return ""
    return tr("The copy cost time here: with {rows:.0f} rows per expert on average, an expert's time is mostly reading its "
              "{mb:.0f} MB of weights, not its rows, and the copy adds one expert to read.",
              rows=sum(base["closed_form"]["rows_computed"]) / run["scale"]["n_experts"],
              mb=LabScale(**run["scale"]).expert_bytes / 1e6)


def device_findings(run: dict, machine: str = "") -> str:
    """The benchmark's finding at one width, from its numbers: the collapsed routing against the balanced one,
    what each fix buys, and the most imbalanced real routing; machine: where it was measured."""
    balanced, collapsed = _find(run, "balanced"), _find(run, "collapsed")
    if balanced is None or collapsed is None:
        return ""
    scale = run["scale"]
    lines = [tr("Measured on {ranks} processes (one thread each, experts {width} wide, D {d}){machine}: a perfectly balanced "
                "routing takes {step} per step.", ranks=run["n_ranks"], width=scale["d_expert"], d=scale["d_model"],
                machine=tr(" on {machine}", machine=machine) if machine else "", step=_span(balanced["step"])),
             tr("Collapsed routing: {straggler}; {ratio:.2f}x the balanced step.", straggler=straggler_text(run, collapsed),
                ratio=collapsed["step"]["median_ms"] / balanced["step"]["median_ms"])]
    fixes = fixes_text(run, "collapsed")
    if fixes:
        lines.append(tr("Fixes, measured: {fixes}.", fixes=fixes))
    real = sorted((s for s in run["scenarios"] if ", layer " in s["name"] and not s["fix"]), key=lambda s: s["busiest_share"])
    if real:
        worst, middle = real[-1], real[len(real) // 2]
        lines.append(tr("The zoo's own routing on held-out text (one domain per batch, {n} domain-layer pairs): the busiest rank "
                        "computes {low:.0f}-{high:.0f}% of the rows (median {middle:.0f}%); at worst ({name}) the step takes {step} "
                        "({ratio:.2f}x balanced).", n=len(real), low=100 * real[0]["busiest_share"],
                        high=100 * worst["busiest_share"], middle=100 * middle["busiest_share"], name=routing_label(worst["name"]),
                        step=_span(worst["step"]), ratio=worst["step"]["median_ms"] / balanced["step"]["median_ms"]))
        if worst["busiest_share"] >= collapsed["busiest_share"] - 0.05:
            lines.append(tr("That is as skewed as the collapsed router: balancing evens the load over the mix of domains the "
                            "model trained on, not within a batch of one domain."))
    return " ".join(lines + unreliable(run))


def phases_figure(run: dict) -> go.Figure:
    """Per scenario and rank, the median time in each phase (stacked): the busiest rank's compute against the
    others' wait in the combine."""
    labels = [scenario_label(s) for s in run["scenarios"]]
    fig = go.Figure()
    for phase, colour in PHASES:
        x = [[label for label, s in zip(labels, run["scenarios"]) for _ in s["ranks"]],
             [tr("rank {rank}", rank=r) for s in run["scenarios"] for r in range(len(s["ranks"]))]]
        fig.add_trace(go.Bar(x=x, y=[r[phase] for s in run["scenarios"] for r in s["ranks"]], name=tr(phase),
                             marker_color=colour, hovertemplate="%{x}: %{y:.2f} ms<extra>" + tr(phase) + "</extra>"))
    fig.update_layout(barmode="stack", height=420, margin=dict(l=60, r=20, t=60, b=120), legend=dict(orientation="h", y=1.08),
                      title=wrapped(tr("Time per step on each rank (median, ms): the combine includes waiting for the busiest rank")),
                      yaxis_title=tr("ms per step"))
    return fig


def rows_figure(run: dict) -> go.Figure:
    """Rows each rank's experts compute per scenario (grouped by rank), from the closed form the measurement matched."""
    labels = [scenario_label(s) for s in run["scenarios"]]
    fig = go.Figure([go.Bar(x=labels, y=[s["closed_form"]["rows_computed"][r] for s in run["scenarios"]],
                            name=tr("rank {rank}", rank=r)) for r in range(run["n_ranks"])])
    fig.update_layout(barmode="group", height=360, margin=dict(l=60, r=20, t=50, b=120), legend=dict(orientation="h", y=1.1),
                      title=wrapped(tr("Token rows each rank's experts compute per step")), yaxis_title=tr("rows"))
    return fig


def placement_table(run: dict) -> pd.DataFrame:
    """Which experts sit on which rank in each scenario, with rows, bytes sent, drops and the step."""
    rows = []
    for s in run["scenarios"]:
        row = {tr("scenario"): scenario_label(s)}
        for r, experts in enumerate(s["placement"]):
            row[tr("rank {rank}: experts", rank=r)] = ", ".join(map(str, experts))
            row[tr("rank {rank}: rows", rank=r)] = s["closed_form"]["rows_computed"][r]
        row[tr("MB sent per rank")] = ", ".join(f"{b / 1e6:.2f}" for b in s["closed_form"]["bytes_sent"])
        row[tr("dropped assignments")] = s["dropped"]
        row[tr("step (ms, median)")] = round(s["step"]["median_ms"], 2)
        rows.append(row)
    return pd.DataFrame(rows)


def text_summary(run: dict) -> str:
    """For the user's text: the straggler as routed and what each fix changes, in the reader's language."""
    base = _find(run, "your text")
    if base is None:
        return ""
    lines = [tr("**Your text on {ranks} processes** ({tokens} tokens, the first half on rank 0, the rest on rank 1; "
                "experts {width} wide, D {d}): {straggler}.", ranks=run["n_ranks"], tokens=run["n_tokens"],
                width=run["scale"]["d_expert"], d=run["scale"]["d_model"], straggler=straggler_text(run, base))]
    fixes = fixes_text(run, "your text")
    if fixes:
        lines.append(tr("Fixes, measured: {fixes}.", fixes=fixes) + " " + weight_bound_text(run, "your text"))
    return "\n\n".join(lines + unreliable(run))
