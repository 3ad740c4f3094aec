"""The web page. `python app.py` serves it on 127.0.0.1 (flags and environment variables: --help).

The page wires controls to the shared backend (`models.analysis`) and renders its report with the pure
views in `viz/`. It does no model math itself. Every request carries its own settings; the loaded
models are shared read-only, so users never see each other's settings.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from models.analysis import EXPERT_CHOICES, AnalysisReport, InputError, analyze_text, measure_report_latency, validate_settings  # noqa: E402
from models.architectures import ConfigError  # noqa: E402
from models.presets import preset_names  # noqa: E402
from models.scale_report import compare_scale  # noqa: E402
from models.zoo import load_member, zoo_names  # noqa: E402
from viz import page_text  # noqa: E402
from viz.comparison_views import comparison_table, latency_figure, loss_figure, parameters_figure  # noqa: E402
from viz.routing_views import expert_load_figure, routing_heatmap, routing_table, token_strip_html  # noqa: E402
from viz.scale_views import experts_read_figure, flops_figure, memory_figure, params_figure, scale_table  # noqa: E402

ROOT = Path(__file__).resolve().parent
EXAMPLES = {p.stem: p.read_text(encoding="utf-8").strip() for p in sorted((ROOT / "assets/examples").glob("*.txt"))}
log = logging.getLogger("moe_app")
DEFAULT_SCALE_PRESETS = ["mixtral-8x7b", "llama-2-70b", "deepseek-v3", "qwen3-30b-a3b", "gpt-oss-120b", "gpt-4",
                         "zoo:moe-8"]

CSS = """
.token-strip {font-family: ui-monospace, monospace; line-height: 2.1; white-space: normal}
.token-strip .tok {display: inline-block; padding: 0 2px; margin: 1px; border-radius: 3px; white-space: pre; line-height: 1.6}
.strip-legend .legend {padding: 1px 5px; border-radius: 3px; font-size: 0.85em}
.dropped-legend {background: #fde0e0; color: #000}
"""


def user_error(message: str) -> gr.Error:
    return gr.Error(message, print_exception=False)


def run_backend(fn, *args):
    """Call the backend; user mistakes become a clear message, anything else a generic one (logged)."""
    try:
        return fn(*args)
    except (InputError, ConfigError) as e:
        raise user_error(str(e)) from None
    except Exception:
        log.exception("analysis failed")
        raise user_error("Something went wrong while analysing this text; the error was logged.") from None


def settings_from_controls(n_experts, top_k, capacity_factor, noise_std, noise_seed):
    return validate_settings(n_experts, top_k, capacity_factor, noise_std, noise_seed)


def routing_views(report: AnalysisReport, layer: int):
    layer = max(0, min(int(layer), len(report.routing) - 1))
    notices = "\n".join(f"> ⚠️ {n}" for n in report.notices)
    summary = (f"**{len(report.tokens)} tokens** analysed by `{report.moe.name}` with top-{report.settings.top_k}"
               + ("" if report.settings.capacity_factor is None else f", capacity factor {report.settings.capacity_factor}")
               + ("" if not report.settings.noise_std else f", router noise std {report.settings.noise_std} (seed {report.settings.noise_seed})"))
    return (notices + "\n\n" + summary, token_strip_html(report, layer), routing_heatmap(report),
            expert_load_figure(report, layer))


def comparison_views(report: AnalysisReport):
    return comparison_table(report), parameters_figure(report), latency_figure(report), loss_figure(report)


def write_downloads(report: AnalysisReport) -> tuple[str, str]:
    directory = Path(tempfile.mkdtemp(prefix="moe_report_"))
    csv_path, json_path = directory / "routing_table.csv", directory / "report.json"
    routing_table(report).to_csv(csv_path, index=False)
    json_path.write_text(json.dumps(report.to_dict(), indent=1, default=float))
    return str(csv_path), str(json_path)


def on_analyze(text, n_experts, top_k, capacity_factor, noise_std, noise_seed, layer):
    settings = run_backend(settings_from_controls, n_experts, top_k, capacity_factor, noise_std, noise_seed)
    report = run_backend(analyze_text, text, settings)
    return (report, *routing_views(report, layer), *comparison_views(report))


def on_measure(report: AnalysisReport | None):
    if report is None:
        raise user_error("Nothing to time yet: analyse a text first.")
    report = run_backend(measure_report_latency, report)
    return (report, *comparison_views(report), *write_downloads(report))


def on_layer(report: AnalysisReport | None, layer):
    if report is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return routing_views(report, layer)


def on_experts(n_experts, top_k):
    return gr.Slider(maximum=int(n_experts), value=min(int(top_k), int(n_experts)))


def on_scale(selected, pasted, context):
    reports = run_backend(compare_scale, selected, pasted, context)
    return (scale_table(reports), params_figure(reports), memory_figure(reports), flops_figure(reports),
            experts_read_figure(reports))


def analyze_api(text: str, n_experts: int = 8, top_k: int = 2, capacity_factor: float = 0.0,
                noise_std: float = 0.0, noise_seed: int = 0, measure_latency: bool = False) -> dict:
    """Analyse a text with the chosen MoE and both dense twins; returns the full report as JSON.

    capacity_factor 0 means no capacity limit. measure_latency adds measured prefill/decode timings (slower).
    """
    settings = run_backend(settings_from_controls, n_experts, top_k, capacity_factor, noise_std, noise_seed)
    report = run_backend(analyze_text, text, settings)
    if measure_latency:
        report = run_backend(measure_report_latency, report)
    return json.loads(json.dumps(report.to_dict(), default=float))


def compare_tab(demo: gr.Blocks) -> None:
    report_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text to analyse", value=EXAMPLES.get("mix", ""), lines=6, max_lines=14,
                              elem_id="input-text")
            gr.Examples([[EXAMPLES[k]] for k in ("english", "russian", "python", "mix") if k in EXAMPLES],
                        inputs=[text], label="Examples: English, Russian, Python code, a mix")
        with gr.Column(scale=2):
            n_experts = gr.Radio(list(EXPERT_CHOICES), value=8, label="Number of experts (MoE model)", elem_id="n-experts")
            top_k = gr.Slider(1, 8, value=2, step=1, label="top-K (experts per token)", elem_id="top-k")
            capacity = gr.Slider(0, 4, value=0, step=0.25, label="Capacity factor (0 = no limit)", elem_id="capacity")
            with gr.Row():
                noise_std = gr.Slider(0, 3, value=0, step=0.1, label="Router noise (std)", elem_id="noise")
                noise_seed = gr.Number(0, precision=0, minimum=0, label="Noise seed")
            layer = gr.Slider(0, 3, value=0, step=1, label="Layer to show", elem_id="layer")
            gr.Markdown(page_text.CONTROLS_HELP)
    status = gr.Markdown(elem_id="status")
    gr.Markdown(page_text.ROUTING)
    strip = gr.HTML(elem_id="token-strip")
    gr.Markdown(page_text.HEATMAP)
    heatmap = gr.Plot(label="Routing heatmap")
    gr.Markdown(page_text.LOAD)
    load = gr.Plot(label="Expert load")
    gr.Markdown(page_text.COMPARE)
    table = gr.Dataframe(label="Dense (compute-matched) | MoE | dense (parameter-matched)", interactive=False,
                         elem_id="comparison", wrap=True)
    with gr.Row():
        params_plot = gr.Plot(label="Parameters")
        latency_plot = gr.Plot(label="Measured latency")
    loss_plot = gr.Plot(label="Per-token loss")
    with gr.Row():
        csv_file = gr.File(label="Routing table (CSV)")
        json_file = gr.File(label="Full report (JSON)")

    controls = [text, n_experts, top_k, capacity, noise_std, noise_seed, layer]
    routing_out = [status, strip, heatmap, load]
    compare_out = [table, params_plot, latency_plot, loss_plot]

    def analyse_then_measure(event):
        # analysis is fast and may run beside a timing; timings run one at a time so that they do not
        # disturb each other (concurrency_id "latency")
        event(on_analyze, controls, [report_state, *routing_out, *compare_out], show_progress="minimal",
              trigger_mode="always_last", concurrency_limit=2, concurrency_id="analysis",
              api_visibility="private").success(
            on_measure, [report_state], [report_state, *compare_out, csv_file, json_file],
            show_progress="minimal", concurrency_limit=1, concurrency_id="latency", api_visibility="private")

    analyse_then_measure(text.change)
    for control in (top_k, capacity, noise_std, noise_seed):
        analyse_then_measure(control.input)
    analyse_then_measure(n_experts.change(on_experts, [n_experts, top_k], [top_k], api_visibility="private").then)
    layer.input(on_layer, [report_state, layer], routing_out, api_visibility="private")
    analyse_then_measure(demo.load)


def scale_tab(demo: gr.Blocks) -> None:
    gr.Markdown(page_text.SCALE)
    choices = preset_names()
    with gr.Row():
        presets = gr.CheckboxGroup(choices, value=[p for p in DEFAULT_SCALE_PRESETS if p in choices], label="Models",
                                   elem_id="scale-presets")
        context = gr.Number(4096, precision=0, minimum=1, label="Context length for FLOPs (tokens)")
    pasted = gr.Code(language="json", label="Or paste any Hugging Face config.json", lines=6)
    scale_df = gr.Dataframe(label="Scale of each model (computed from its architecture)", interactive=False,
                            wrap=True, elem_id="scale-table")
    with gr.Row():
        scale_params = gr.Plot(label="Total vs active")
        scale_memory = gr.Plot(label="Memory")
    with gr.Row():
        scale_flops = gr.Plot(label="FLOPs per token")
        scale_experts = gr.Plot(label="Experts read vs batch")
    outputs = [scale_df, scale_params, scale_memory, scale_flops, scale_experts]
    for trigger in (presets.change, context.submit, pasted.change, demo.load):
        trigger(on_scale, [presets, pasted, context], outputs, trigger_mode="always_last", api_visibility="private")


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Dense vs Mixture-of-Experts", delete_cache=(600, 3600)) as demo:
        gr.Markdown(page_text.INTRO)
        with gr.Tab("Dense vs MoE on your text"):
            compare_tab(demo)
        with gr.Tab("Scale: real models"):
            scale_tab(demo)
        gr.api(analyze_api, api_name="analyze")
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the dense-vs-MoE page.")
    parser.add_argument("--host", default=os.environ.get("MOE_APP_HOST", "127.0.0.1"), help="bind address (env MOE_APP_HOST)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOE_APP_PORT", "7860")), help="port (env MOE_APP_PORT)")
    return parser.parse_args(argv)


demo = build_demo()

if __name__ == "__main__":
    args = parse_args()
    for name in zoo_names():  # load every model before the first request
        load_member(name)
    demo.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port, share=False, css=CSS)
