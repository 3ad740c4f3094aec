"""The "Interventions" tab: top-K sweep, ablation, expert importance and forcing on the user's text, and
their JSON API endpoints (backend/interventions.py does the work)."""
from __future__ import annotations

import gradio as gr

from backend.analysis import EXPERT_CHOICES, validate_settings
from backend.interventions import ablate, expert_importance, force, top_k_sweep
from page.common import EXAMPLES, run_backend, t
from viz.intervention_views import (AFFECTED_HEADERS, SWEEP_HEADERS, affected_table, change_figure, importance_figure,
                                    load_change_figure, sweep_figure, sweep_table)

ALL_LAYERS = "all layers"
LAYER_CHOICES = [ALL_LAYERS, 0, 1, 2, 3]


def _settings(n_experts, top_k):
    return run_backend(validate_settings, n_experts, top_k, 0, 0.0, 0)


def _layer(layer):
    """The page's "all layers" and the API's -1 both mean every layer (None to the backend)."""
    return None if layer in (ALL_LAYERS, None, -1) else layer


def _end(end):
    """-1 (or any negative, or nothing) means the last position."""
    return None if end is None or end < 0 else end


def _summary(report) -> str:
    return (f"**{report.description}**: mean loss {report.mean_before:.3f} → {report.mean_after:.3f} nats/token "
            f"({report.mean_after - report.mean_before:+.3f}).")


def on_sweep(text, n_experts, top_k, progress=gr.Progress()):
    settings = _settings(n_experts, top_k)
    sweep = run_backend(top_k_sweep, text, settings, True, 3, lambda fraction, desc: progress(fraction, desc=desc))
    return sweep_figure(sweep), sweep_table(sweep)


def on_ablate(text, n_experts, top_k, layer, experts, mode):
    report = run_backend(ablate, text, _settings(n_experts, top_k), _layer(layer), list(experts or []), mode)
    return _summary(report), change_figure(report), affected_table(report), load_change_figure(report)


def on_importance(text, n_experts, top_k):
    return importance_figure(run_backend(expert_importance, text, _settings(n_experts, top_k)))


def on_force(text, n_experts, top_k, experts, start, end, layer):
    report = run_backend(force, text, _settings(n_experts, top_k), list(experts or []), start, _end(end), _layer(layer))
    return _summary(report), change_figure(report), affected_table(report)


def on_experts(n_experts):
    settings = _settings(n_experts, 1)
    experts = list(range(settings.n_experts))
    return (gr.Slider(maximum=settings.n_experts), gr.CheckboxGroup(experts, value=[0]),
            gr.CheckboxGroup(experts, value=[0, 1]))


# JSON API (gr.api): the same backend, validated the same way; reports as plain dicts.
def top_k_sweep_api(text: str, n_experts: int = 8, measure_latency: bool = False) -> dict:
    """Loss (and, if asked, measured decode tokens/s) of the MoE at every top-K from 1 to E, beside the dense twins."""
    return run_backend(top_k_sweep, text, _settings(n_experts, 1), bool(measure_latency)).to_dict()


def ablate_api(text: str, n_experts: int = 8, top_k: int = 2, layer: int = -1, experts: list[int] | None = None,
               mode: str = "reroute") -> dict:
    """Switch experts off (layer -1 = every layer); mode "reroute" or "zero". Per-token loss change and load."""
    return run_backend(ablate, text, _settings(n_experts, top_k), _layer(layer), experts or [], mode).to_dict()


def importance_api(text: str, n_experts: int = 8, top_k: int = 2, mode: str = "reroute") -> dict:
    """Mean loss increase when each expert alone is switched off, per layer: increase[layer][expert]."""
    return run_backend(expert_importance, text, _settings(n_experts, top_k), mode).to_dict()


def force_api(text: str, n_experts: int = 8, top_k: int = 2, experts: list[int] | None = None, start: int = 0,
              end: int = -1, layer: int = -1) -> dict:
    """Route positions start..end (-1 = the last) in one layer (-1 = all) to exactly top-K chosen experts."""
    return run_backend(force, text, _settings(n_experts, top_k), experts or [], start, _end(end), _layer(layer)).to_dict()


def build_tab(demo: gr.Blocks) -> None:
    gr.Markdown(t("INTERVENTIONS"))
    with gr.Row():
        text = gr.Textbox(label="Text", value=EXAMPLES.get("python", ""), lines=5, max_lines=10, scale=3, elem_id="iv-text")
        with gr.Column(scale=1):
            n_experts = gr.Radio(list(EXPERT_CHOICES), value=8, label="Number of experts (MoE model)", elem_id="iv-experts")
            top_k = gr.Slider(1, 8, value=2, step=1, label="top-K (experts per token)", elem_id="iv-top-k")
    gr.Markdown(t("IMPORTANCE"))
    importance = gr.Plot(label="Expert importance")
    gr.Markdown(t("SWEEP"))
    sweep_button = gr.Button("Sweep top-K (measures decode speed: about 10 s)")
    sweep_plot = gr.Plot(label="Loss and speed against top-K")
    sweep_df = gr.Dataframe(label="Every top-K beside the dense twins", headers=SWEEP_HEADERS, interactive=False, wrap=True)
    gr.Markdown(t("ABLATION"))
    with gr.Row():
        ablate_layer = gr.Dropdown(LAYER_CHOICES, value=ALL_LAYERS, label="Layer")
        ablate_experts = gr.CheckboxGroup(list(range(8)), value=[0], label="Experts to switch off", elem_id="iv-ablate")
        mode = gr.Radio(["reroute", "zero"], value="reroute", label="Mode")
        ablate_button = gr.Button("Switch off", variant="primary")
    ablate_summary = gr.Markdown()
    ablate_plot = gr.Plot(label="Loss change per token")
    ablate_df = gr.Dataframe(label="Tokens most affected", headers=AFFECTED_HEADERS, interactive=False, wrap=True)
    ablate_load = gr.Plot(label="Load before and after")
    gr.Markdown(t("FORCING"))
    with gr.Row():
        force_experts = gr.CheckboxGroup(list(range(8)), value=[0, 1], label="Experts to force (as many as top-K)")
        start = gr.Number(0, precision=0, minimum=0, label="From token position")
        end = gr.Number(-1, precision=0, minimum=-1, label="To token position (-1 = the last)")
        force_layer = gr.Dropdown(LAYER_CHOICES, value=ALL_LAYERS, label="Layer")
        force_button = gr.Button("Force", variant="primary")
    force_summary = gr.Markdown()
    force_plot = gr.Plot(label="Loss change per token (forcing)")
    force_df = gr.Dataframe(label="Tokens most affected (forcing)", headers=AFFECTED_HEADERS, interactive=False, wrap=True)

    private = dict(api_visibility="private")
    n_experts.change(on_experts, [n_experts], [top_k, ablate_experts, force_experts], **private)
    for trigger in (demo.load, text.change, n_experts.change, top_k.release):
        trigger(on_importance, [text, n_experts, top_k], [importance], trigger_mode="always_last",
                show_progress="minimal", **private)
    sweep_button.click(on_sweep, [text, n_experts, top_k], [sweep_plot, sweep_df], concurrency_limit=1,
                       concurrency_id="latency", **private)
    ablate_button.click(on_ablate, [text, n_experts, top_k, ablate_layer, ablate_experts, mode],
                        [ablate_summary, ablate_plot, ablate_df, ablate_load], **private)
    force_button.click(on_force, [text, n_experts, top_k, force_experts, start, end, force_layer],
                       [force_summary, force_plot, force_df], **private)
