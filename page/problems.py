"""The "Problems of MoE" tab: recorded balancing runs, capacity limits on the user's text, a live run."""
from __future__ import annotations

import time
from dataclasses import replace

import gradio as gr

from backend.analysis import analyze_text, validate_settings
from lab.expert_parallel_text import MEMBERS, WIDTHS, measure_text
from errors import UserError, int_in_range
from page.common import EXAMPLES, StopRequests, l, run_backend, t, user_error
from text import tr
from training.balancing import BY_NAME, compared_with, read_log, recorded_seeds, recorded_variants, variant_summary
from training.live import MAX_STEPS, METHODS, live_run
from training.log import TrainLog
from viz.balancing_views import (balancing_findings, capacity_figure, capacity_summary, curves_figure, final_table, live_figure,
                                 load_heatmaps, variants_legend)
from lab.expert_parallel import shipped_run
from viz.expert_parallel_views import device_findings, phases_figure, placement_table, rows_figure, text_summary
from viz.routing_views import token_strip_html
from viz.tables import markdown_table


def recorded_views(selected, layer):
    selected = [name for name in selected or [] if name in recorded_variants()]
    if not selected:
        raise UserError(tr("Choose at least one recorded variant."))
    logs = {name: read_log(name, recorded_seeds(name)[0]) for name in selected}  # curves: the first seed's run
    layer = int_in_range("layer", layer, 0, min(log.n_layers for log in logs.values()) - 1)
    summaries = {name: variant_summary(name) for name in selected}
    versus = {name: compared_with(f, variant_summary("none")) for name, f in summaries.items()
              if name != "none" and "none" in recorded_variants()}
    return (load_heatmaps(logs, layer), curves_figure(logs),
            markdown_table(final_table(summaries, versus), tr("Final figures (means over seeds of the last 20 steps)"))
            + "\n\n" + variants_legend({name: BY_NAME[name].description for name in selected}))


def on_recorded(selected, layer):
    return run_backend(recorded_views, selected, layer)


def findings() -> str:
    names = recorded_variants()
    if "none" not in names:
        return ""
    summaries = {name: variant_summary(name) for name in names}
    shipped = shipped_run()
    devices = device_findings(shipped["widths"]["realistic"], shipped["machine"]) if shipped else ""
    return balancing_findings(summaries, {n: compared_with(f, summaries["none"]) for n, f in summaries.items() if n != "none"},
                              devices)


def on_capacity(text, capacity_factor, top_k):
    if not capacity_factor:
        raise user_error(tr("Choose a capacity factor above 0 to see which tokens it drops."))
    settings = run_backend(validate_settings, 8, top_k, capacity_factor, 0.0, 0)
    limited = run_backend(analyze_text, text, settings)
    unlimited = run_backend(analyze_text, text, replace(settings, capacity_factor=None))
    strips = "".join(token_strip_html(limited, layer.layer) for layer in limited.routing)
    return capacity_summary(limited, unlimited), strips, capacity_figure(limited, unlimited)


def on_devices(text, member, layer, width, progress=gr.Progress()):
    progress(0.1, desc=tr("starting {ranks} processes, one per core, and timing every scenario", ranks=2))
    run = run_backend(measure_text, text, member, layer, width)
    return (text_summary(run), phases_figure(run), rows_figure(run),
            markdown_table(placement_table(run), tr("Where the experts sit, and what each scenario sends and computes")))


def expert_parallel_api(text: str, model: str = "moe-8", layer: int = 1, width: str = "realistic") -> dict:
    """One MoE layer's routing of this text, its experts on 2 ranks (processes): per scenario (as routed, a placement
    balanced by this load, the hottest expert copied, capacity 1.0 and 1.25) the rows, bytes and phase times per rank."""
    return run_backend(measure_text, text, model, layer, width)


LIVE_STOPS = StopRequests()  # sessions whose live run should end at its next step


def on_stop(request: gr.Request):
    """Ask this session's live run to end after its current step (no cancellation: nothing to race with)."""
    LIVE_STOPS.request(request.session_hash)


def _shown(figure) -> gr.Plot:
    """The live chart, made visible with its first rows (hidden before a run: an empty frame teaches nothing)."""
    return gr.Plot(figure, visible=True)


def on_live(method, steps, request: gr.Request = None, progress=gr.Progress()):
    steps = run_backend(int_in_range, "steps", steps, 10, MAX_STEPS)
    run = run_backend(live_run, method, steps)  # settings are checked before the first step
    session = request.session_hash if request else ""
    LIVE_STOPS.clear(session)
    rows, start = [], time.perf_counter()
    while not LIVE_STOPS.requested(session) and (row := run_backend(next, run, None)) is not None:
        rows.append(row)
        if len(rows) % 10 == 0 or len(rows) == steps:
            progress(len(rows) / steps, desc=tr("step {step} of {steps}", step=len(rows), steps=steps))
            log, elapsed = TrainLog(rows), time.perf_counter() - start
            per_step = elapsed / len(rows)
            status = tr("**{method}**: step {step} of {steps}, loss {loss:.3f} nats/token, dead expert slots {dead:.0f} of "
                        "{slots}; {elapsed:.1f} s so far, {rate:.1f} steps/s measured on this machine, so about {left:.0f} s "
                        "left", method=method, step=len(rows), steps=steps, loss=row["loss"],
                        dead=log.layer_sum("dead_experts")[-1], slots=log.n_layers * log.n_experts, elapsed=elapsed,
                        rate=1 / per_step, left=per_step * (steps - len(rows)))
            yield status, _shown(live_figure(log, steps))
    if rows and len(rows) < steps:  # stopped
        yield (tr("**{method}**: stopped at step {step} of {steps} after {elapsed:.1f} s, loss {loss:.3f} nats/token.",
                  method=method, step=len(rows), steps=steps, elapsed=time.perf_counter() - start, loss=rows[-1]["loss"]),
               _shown(live_figure(TrainLog(rows), steps)))


def build_tab(demo: gr.Blocks, language_changed: gr.Button) -> None:
    gr.Markdown(t("PROBLEMS"))
    recorded = recorded_variants()
    gr.Markdown(t("RECORDED"))
    findings_text = gr.Markdown(elem_id="balancing-findings")
    for trigger in (demo.load, language_changed.click):
        trigger(findings, None, [findings_text], api_visibility="private")
    with gr.Row():
        variants = gr.CheckboxGroup(recorded, value=[v for v in recorded if not BY_NAME[v].probe], label=l("Recorded runs"),
                                    elem_id="variants")
        layer = gr.Slider(0, 3, value=1, step=1, label=l("Layer"))
    curves = gr.Plot(label=l("Load CV, dead experts, loss"))
    table = gr.Markdown(elem_id="final-figures", elem_classes="wide-table")
    heatmaps = gr.Plot(label=l("Expert load over training"))
    if recorded:
        for trigger in (variants.change, layer.release, demo.load, language_changed.click):
            trigger(on_recorded, [variants, layer], [heatmaps, curves, table], api_visibility="private")

    gr.Markdown(t("CAPACITY"))
    with gr.Row():
        cap_text = gr.Textbox(label=l("Text"), value=EXAMPLES.get("python", ""), lines=4, scale=3)
        with gr.Column(scale=1):
            cap_factor = gr.Slider(0.25, 2, value=0.5, step=0.25, label=l("Capacity factor"))
            cap_k = gr.Radio([1, 2], value=1, label=l("top-K"))
            cap_button = gr.Button(l("Apply the capacity limit"))
    cap_summary = gr.Markdown()
    cap_strips = gr.HTML()
    cap_plot = gr.Plot(label=l("Loss with and without the limit"))
    for trigger in (cap_button.click, cap_factor.release, cap_k.change, demo.load, language_changed.click):
        trigger(on_capacity, [cap_text, cap_factor, cap_k], [cap_summary, cap_strips, cap_plot], api_visibility="private")

    gr.Markdown(t("DEVICES"))
    with gr.Row():
        ep_text = gr.Textbox(label=l("Text"), value=EXAMPLES.get("mix", ""), lines=4, scale=3)
        with gr.Column(scale=1):
            ep_member = gr.Dropdown(list(MEMBERS), value="moe-8", label=l("MoE model"))
            ep_layer = gr.Slider(0, 3, value=1, step=1, label=l("Layer"))
            ep_width = gr.Radio(list(WIDTHS), value="realistic", label=l("Expert width: the zoo's own, or realistic (D 4096)"))
            ep_button = gr.Button(l("Measure on 2 processes"), elem_id="ep-measure")
    ep_summary = gr.Markdown(elem_id="ep-summary")
    ep_phases = gr.Plot(label=l("Time per rank and phase"))
    ep_rows = gr.Plot(label=l("Rows per rank"))
    ep_table = gr.Markdown(elem_classes="wide-table")
    ep_button.click(on_devices, [ep_text, ep_member, ep_layer, ep_width], [ep_summary, ep_phases, ep_rows, ep_table],
                    concurrency_limit=1, concurrency_id="latency", api_visibility="private")

    gr.Markdown(t("LIVE"))
    with gr.Row():
        method = gr.Dropdown(list(METHODS), value="none", label=l("Balancing method"))
        steps = gr.Slider(20, MAX_STEPS, value=150, step=10, label=l("Training steps"), elem_id="live-steps")
        run = gr.Button(l("Train"), variant="primary", elem_id="live-train")
        stop = gr.Button(l("Stop"))
    live_status = gr.Markdown(elem_id="live-status")
    live_plot = gr.Plot(label=l("Expert load while training"), visible=False)
    # Train is disabled while a run goes (a second press would only queue behind it). Stop asks the run to end
    # after its current step (a flag per session, not a cancellation), and Train comes back when it has.
    locked = run.click(lambda: gr.Button(interactive=False), None, [run], queue=False, api_visibility="private")
    run_event = locked.then(on_live, [method, steps], [live_status, live_plot], concurrency_limit=1,
                          concurrency_id="live", api_visibility="private")
    run_event.then(lambda: gr.Button(interactive=True), None, [run], queue=False, api_visibility="private")
    stop.click(on_stop, None, None, queue=False, api_visibility="private")
