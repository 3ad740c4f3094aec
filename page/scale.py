"""The "Scale" tab: total vs active parameters, memory and FLOPs of real models and the zoo."""
from __future__ import annotations

import gradio as gr

from scale.presets import preset_names
from scale.architectures import ConfigError
from scale.report import AGREEMENT_RULE, compare_scale, pasted_report
from page.common import l, run_backend, t
from text import tr
from viz.scale_views import (experts_read_figure, flops_figure, memory_figure, params_figure, scale_table,
                             sources_markdown, unknown_fields_note)
from viz.tables import markdown_table

DEFAULT_PRESETS = ["mixtral-8x7b", "llama-2-70b", "deepseek-v3", "qwen3-30b-a3b", "gpt-oss-120b", "gpt-4", "zoo:moe-8"]


def on_scale(selected, pasted, context):
    """The chosen models and the pasted config. A pasted config that cannot be read (half typed, a bad
    paste) is reported in one line beside the editor and leaves the chosen models' results on screen."""
    status = ""
    reports = run_backend(compare_scale, selected, "", context) if selected else []
    if pasted and pasted.strip():
        try:
            reports.append(pasted_report(pasted, context))
        except ConfigError as e:
            status = tr("⚠ The pasted config cannot be read yet: {error}. The table shows the chosen models.", error=e)
    if not reports:
        return (status or tr("Choose at least one model or paste a config.json."),) + (gr.skip(),) * 6
    return (status + "\n\n" + tr(AGREEMENT_RULE), markdown_table(scale_table(reports), tr("Scale of each model (computed from its architecture)"))
            + "\n\n" + unknown_fields_note(reports), sources_markdown(reports), params_figure(reports), memory_figure(reports),
            flops_figure(reports), experts_read_figure(reports))


def build_tab(demo: gr.Blocks, language_changed: gr.Button) -> None:
    gr.Markdown(t("SCALE"))
    choices = preset_names()
    with gr.Row():
        presets = gr.CheckboxGroup(choices, value=[p for p in DEFAULT_PRESETS if p in choices], label=l("Models"),
                                   elem_id="scale-presets")
        context = gr.Number(4096, precision=0, minimum=1, label=l("Context length for FLOPs (tokens)"))
    pasted = gr.Code(language="json", label=l("Or paste any Hugging Face config.json"), lines=6)
    pasted_status = gr.Markdown(elem_id="pasted-status")
    scale_df = gr.Markdown(elem_id="scale-table", elem_classes="wide-table")
    sources = gr.Markdown(elem_id="scale-sources")
    with gr.Row():
        scale_params = gr.Plot(label=l("Total vs active"))
        scale_memory = gr.Plot(label=l("Memory"))
    with gr.Row():
        scale_flops = gr.Plot(label=l("FLOPs per token"))
        scale_experts = gr.Plot(label=l("Experts read vs batch"))
    outputs = [pasted_status, scale_df, sources, scale_params, scale_memory, scale_flops, scale_experts]
    for trigger in (presets.change, context.submit, pasted.change, demo.load, language_changed.click):
        trigger(on_scale, [presets, pasted, context], outputs, trigger_mode="always_last", api_visibility="private")
