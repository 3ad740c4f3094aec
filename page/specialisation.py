"""The "Specialisation" tab: what the zoo's experts specialise in, from the shipped routing analysis
(`python -m benchmarks.routing_analysis`), with the baselines beside every statistic."""
from __future__ import annotations

import functools
import json

import gradio as gr

from errors import int_in_range
from page.common import l, run_backend, t, user_error
from paths import RESULTS
from text import tr
from viz.specialisation_views import (coactivation_figure, confidence_figure, domain_figure, findings_text, repeat_figure, top_tokens_table)
from viz.tables import markdown_table

ANALYSIS = RESULTS / "routing_analysis.json"


@functools.lru_cache(maxsize=1)
def shipped_reports() -> dict[str, dict]:
    if not ANALYSIS.is_file():
        return {}
    return {r["model"]: r for r in json.loads(ANALYSIS.read_text())}


def specialisation_views(report: dict, layer):
    return (domain_figure(report, layer), repeat_figure(report, layer), coactivation_figure(report, layer),
            confidence_figure(report, layer),
            markdown_table(top_tokens_table(report, layer), tr("Each expert's most frequent tokens")))


def on_show(model, layer):
    reports = shipped_reports()
    if model not in reports:
        raise user_error(tr("No routing analysis for {model!r}; shipped: {shipped}.", model=model, shipped=", ".join(reports)))
    layer = run_backend(int_in_range, "layer", layer, 0, len(reports[model]["layers"]) - 1)
    return (findings_text(reports[model]), *specialisation_views(reports[model], layer))


def build_tab(demo: gr.Blocks, language_changed: gr.Button) -> None:
    gr.Markdown(t("SPECIALISATION"))
    reports = shipped_reports()
    if not reports:
        gr.Markdown(l("No routing analysis ships with this copy: run `python -m benchmarks.routing_analysis`."))
        return
    with gr.Row():
        model = gr.Radio(list(reports), value="moe-8" if "moe-8" in reports else next(iter(reports)), label=l("Model"))
        layer = gr.Slider(0, 3, value=3, step=1, label=l("Layer"))
    findings = gr.Markdown(elem_id="findings")
    domains = gr.Plot(label=l("Domains"))
    repeats = gr.Plot(label=l("Neighbouring tokens"))
    with gr.Row():
        coactivation = gr.Plot(label=l("Co-activation"))
        confidence = gr.Plot(label=l("Router confidence"))
    tokens = gr.Markdown(elem_id="expert-tokens", elem_classes="wide-table")
    outputs = [findings, domains, repeats, coactivation, confidence, tokens]
    for trigger in (model.change, layer.release, demo.load, language_changed.click):
        trigger(on_show, [model, layer], outputs, api_visibility="private")
