"""The "Interventions" tab: top-K sweep, ablation, expert importance and forcing on the user's text, and
their JSON API endpoints (backend/interventions.py does the work)."""
from __future__ import annotations

import gradio as gr

from backend.analysis import EXPERT_CHOICES, validate_settings
from backend.interventions import ablate, expert_importance, force, top_k_sweep
from backend.real_models import get_model, real_model_names
from page.common import EXAMPLES, ZOO, Stopped, StopRequests, l, model_chooser, real_choice, run_backend, t
from text import tr
from viz.intervention_views import (AFFECTED_HEADERS, SWEEP_HEADERS, affected_table, change_figure, importance_figure,
                                    load_change_figure, sweep_figure, sweep_table)

ALL_LAYERS = "all layers"


def layer_choices(n_layers: int) -> list[tuple]:
    """The layer dropdown's choices: every layer (shown in the reader's language), then each layer."""
    return [(l(ALL_LAYERS), ALL_LAYERS), *((str(i), i) for i in range(n_layers))]


def _settings(n_experts, top_k, model=ZOO):
    return run_backend(validate_settings, n_experts, top_k, 0, 0.0, 0, real_choice(model))


def _layer(layer):
    """The page's "all layers" and the API's -1 both mean every layer (None to the backend)."""
    return None if layer in (ALL_LAYERS, None, -1) else layer


def _end(end):
    """-1 (or any negative, or nothing) means the last position."""
    return None if end is None or end < 0 else end


def _summary(report) -> str:
    return tr("**{what}**: mean loss {before:.3f} → {after:.3f} nats/token ({change:+.3f}).", what=report.description,
              before=report.mean_before, after=report.mean_after, change=report.mean_after - report.mean_before)


STOPS = StopRequests()  # sessions that asked their sweep or importance run to stop


def _stopped(n_outputs: int) -> tuple:
    gr.Warning(tr("Stopped at your request: nothing shown has changed."))
    return (gr.skip(),) * n_outputs


def _session(request: gr.Request | None) -> str:
    return request.session_hash if request else ""


def on_sweep(text, n_experts, top_k, model, request: gr.Request = None, progress=gr.Progress()):
    settings, session = _settings(n_experts, top_k, model), _session(request)
    STOPS.clear(session)
    try:
        sweep = run_backend(top_k_sweep, text, settings, True, 3, STOPS.progress(session, progress))
    except Stopped:
        return _stopped(2)
    return sweep_figure(sweep), sweep_table(sweep)


def on_importance_button(text, n_experts, top_k, model, request: gr.Request = None, progress=gr.Progress()):
    """The heatmap on request (a real model's L x E ablations take minutes): with a progress bar, and stoppable."""
    session = _session(request)
    STOPS.clear(session)
    try:
        report = run_backend(expert_importance, text, _settings(n_experts, top_k, model), "reroute",
                             STOPS.progress(session, progress))
    except Stopped:
        return _stopped(1)[0]
    return importance_figure(report)


def on_stop(request: gr.Request):
    STOPS.request(_session(request))


def on_ablate(text, n_experts, top_k, model, layer, experts, mode):
    report = run_backend(ablate, text, _settings(n_experts, top_k, model), _layer(layer), list(experts or []), mode)
    return _summary(report), change_figure(report), affected_table(report), load_change_figure(report)


def on_importance(text, n_experts, top_k, model):
    return importance_figure(run_backend(expert_importance, text, _settings(n_experts, top_k, model)))


AUTO_OUTPUTS = 10  # importance, sweep (figure, table), ablation (4), forcing (3)


def _or_message(handler, n_outputs: int, *args) -> tuple:
    """handler's outputs, or its user-facing error as the summary beside cleared outputs: a selection that
    no longer fits (e.g. two forced experts after top-K became 3) waits for the user without an error pop-up."""
    try:
        return handler(*args)
    except gr.Error as error:
        return (f"⚠ {error.message}", *[None] * (n_outputs - 1))


def on_auto(text, n_experts, top_k, model, ablate_layer, ablate_experts, mode, force_experts, start, end, force_layer):
    """Every result of the tab for the zoo on every change, from the current selections (well under a
    second: the sweep without timing, the heatmap, the ablation and the forcing), so nothing shows another
    text's results; a real model's L x E ablations take minutes on a CPU, so there the buttons wait."""
    if real_choice(model):
        return (gr.skip(),) * AUTO_OUTPUTS
    if not text.strip():
        return (None, None, None, "", None, None, None, "", None, None)
    chosen = (text, n_experts, top_k, model)
    sweep = run_backend(top_k_sweep, text, _settings(n_experts, top_k, model), False)
    return (on_importance(*chosen), sweep_figure(sweep), sweep_table(sweep),
            *_or_message(on_ablate, 4, *chosen, ablate_layer, ablate_experts, mode),
            *_or_message(on_force, 3, *chosen, force_experts, start, end, force_layer))


def on_force(text, n_experts, top_k, model, experts, start, end, layer):
    report = run_backend(force, text, _settings(n_experts, top_k, model), list(experts or []), start, _end(end), _layer(layer))
    return _summary(report), change_figure(report), affected_table(report)


def on_experts(n_experts, model):
    """Controls fitted to the chosen MoE: top-K up to its experts, its experts to pick, its MoE layers."""
    settings = _settings(n_experts, 1, model)
    experts = list(range(settings.n_experts))
    cfg = run_backend(get_model, settings.moe_name).model.cfg
    layers = layer_choices(cfg.n_layers)
    return (gr.Slider(maximum=settings.n_experts, value=cfg.top_k), gr.CheckboxGroup(experts, value=[0]),
            gr.CheckboxGroup(experts, value=[0, 1]), gr.Dropdown(layers, value=ALL_LAYERS), gr.Dropdown(layers, value=ALL_LAYERS))


# JSON API (gr.api): the same backend, validated the same way; reports as plain dicts.
# model: a loaded real MoE ("" = the zoo's moe-<n_experts>), as in /analyze.
def top_k_sweep_api(text: str, n_experts: int = 8, measure_latency: bool = False, model: str = "", every_k: bool = False) -> dict:
    """Loss (and, if asked, measured decode tokens/s) of the MoE at every top-K from 1 to E (beyond 32 experts a
    spread of K: powers of two, E and the trained K, unless every_k), beside the dense twins."""
    return run_backend(top_k_sweep, text, _settings(n_experts, 1, model), bool(measure_latency), 3, None, bool(every_k)).to_dict()


def ablate_api(text: str, n_experts: int = 8, top_k: int = 2, layer: int = -1, experts: list[int] | None = None,
               mode: str = "reroute", model: str = "") -> dict:
    """Switch experts off (layer -1 = every layer); mode "reroute" or "zero". Per-token loss change and load."""
    return run_backend(ablate, text, _settings(n_experts, top_k, model), _layer(layer), experts or [], mode).to_dict()


def importance_api(text: str, n_experts: int = 8, top_k: int = 2, mode: str = "reroute", model: str = "") -> dict:
    """Mean loss increase when each expert alone is switched off, per layer: increase[layer][expert]."""
    return run_backend(expert_importance, text, _settings(n_experts, top_k, model), mode).to_dict()


def force_api(text: str, n_experts: int = 8, top_k: int = 2, experts: list[int] | None = None, start: int = 0,
              end: int = -1, layer: int = -1, model: str = "") -> dict:
    """Route positions start..end (-1 = the last) in one layer (-1 = all) to exactly top-K chosen experts."""
    return run_backend(force, text, _settings(n_experts, top_k, model), experts or [], start, _end(end),
                       _layer(layer)).to_dict()


def build_tab(demo: gr.Blocks, language_changed: gr.Button) -> None:
    gr.Markdown(t("INTERVENTIONS"))
    with gr.Row():
        text = gr.Textbox(label=l("Text"), value=EXAMPLES.get("python", ""), lines=5, max_lines=10, scale=3, elem_id="iv-text")
        with gr.Column(scale=1):
            model = model_chooser(moe=True, elem_id="iv-model", visible=bool(real_model_names(moe=True)))
            n_experts = gr.Radio(list(EXPERT_CHOICES), value=8, label=l("Number of experts (MoE model)"), elem_id="iv-experts")
            top_k = gr.Slider(1, 8, value=2, step=1, label=l("top-K (experts per token)"), elem_id="iv-top-k")
    gr.Markdown(t("IMPORTANCE"))
    with gr.Row():
        importance_button = gr.Button(l("Compute expert importance (automatic for the zoo; a real model takes longer)"),
                                      size="sm", visible=bool(real_model_names(moe=True)))
        stop_button = gr.Button(l("Stop the sweep or the importance run"), size="sm", elem_id="iv-stop")
    importance = gr.Plot(label=l("Expert importance"))
    gr.Markdown(t("SWEEP"))
    sweep_button = gr.Button(l("Sweep top-K (measures decode speed: about 10 s)"))
    sweep_plot = gr.Plot(label=l("Loss and speed against top-K"))
    sweep_df = gr.Dataframe(label=l("Every top-K beside the dense twins"), headers=SWEEP_HEADERS, interactive=False, wrap=True)
    gr.Markdown(t("ABLATION"))
    with gr.Row():
        ablate_layer = gr.Dropdown(layer_choices(4), value=ALL_LAYERS, label=l("Layer"))
        ablate_experts = gr.CheckboxGroup(list(range(8)), value=[0], label=l("Experts to switch off"), elem_id="iv-ablate")
        mode = gr.Radio(["reroute", "zero"], value="reroute", label=l("Mode"))
        ablate_button = gr.Button(l("Switch off"), variant="primary")
    ablate_summary = gr.Markdown()
    ablate_plot = gr.Plot(label=l("Loss change per token"))
    ablate_df = gr.Dataframe(label=l("Tokens most affected"), headers=AFFECTED_HEADERS, interactive=False, wrap=True)
    ablate_load = gr.Plot(label=l("Load before and after"))
    gr.Markdown(t("FORCING"))
    with gr.Row():
        force_experts = gr.CheckboxGroup(list(range(8)), value=[0, 1], label=l("Experts to force (as many as top-K)"))
        start = gr.Number(0, precision=0, minimum=0, label=l("From token position"))
        end = gr.Number(-1, precision=0, minimum=-1, label=l("To token position (-1 = the last)"))
        force_layer = gr.Dropdown(layer_choices(4), value=ALL_LAYERS, label=l("Layer"))
        force_button = gr.Button(l("Force"), variant="primary")
    force_summary = gr.Markdown()
    force_plot = gr.Plot(label=l("Loss change per token (forcing)"))
    force_df = gr.Dataframe(label=l("Tokens most affected (forcing)"), headers=AFFECTED_HEADERS, interactive=False, wrap=True)

    private = dict(api_visibility="private")
    chosen = [text, n_experts, top_k, model]
    auto = dict(fn=on_auto, inputs=[*chosen, ablate_layer, ablate_experts, mode, force_experts, start, end, force_layer],
                outputs=[importance, sweep_plot, sweep_df, ablate_summary, ablate_plot, ablate_df, ablate_load,
                         force_summary, force_plot, force_df], show_progress="minimal", **private)
    for chooser in (n_experts, model):
        chooser.change(on_experts, [n_experts, model], [top_k, ablate_experts, force_experts, ablate_layer, force_layer],
                       **private).then(**auto)
    for trigger in (demo.load, text.change, top_k.release, language_changed.click):
        trigger(trigger_mode="always_last", **auto)
    importance_button.click(on_importance_button, chosen, [importance], concurrency_limit=1, **private)
    stop_button.click(on_stop, None, None, queue=False, **private)
    sweep_button.click(on_sweep, chosen, [sweep_plot, sweep_df], concurrency_limit=1, concurrency_id="latency", **private)
    ablate_button.click(on_ablate, [*chosen, ablate_layer, ablate_experts, mode],
                        [ablate_summary, ablate_plot, ablate_df, ablate_load], **private)
    force_button.click(on_force, [*chosen, force_experts, start, end, force_layer],
                       [force_summary, force_plot, force_df], **private)
