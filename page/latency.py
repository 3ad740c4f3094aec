"""The "Latency lab" tab: run the lab (lab/run.py, the benchmark's own entry) at a chosen scale on this
machine, and see the last full benchmark run (`python -m benchmarks.latency`)."""
from __future__ import annotations

import functools
import json
from dataclasses import replace

import gradio as gr
import torch

from backend.analysis import EXPERT_CHOICES, validate_settings
from backend.reliability import unreliable_because
from backend.expert_cache import cache_table, measured_coverage
from backend.timing import native_dtypes
from errors import UserError
from lab.roofline import decode_models
from lab.run import LabPlan, run
from lab.targets import targets, verdict_word
from lab.variants import LabScale
from models.params import BYTES_PER_PARAM
from backend.real_models import get_model, real_model_names
from page.common import EXAMPLES, ZOO, l, model_chooser, real_choice, run_backend, t
from text import tr
from paths import RESULTS
from scale.presets import load_preset, preset_names
from viz.latency_views import (cache_coverage_figure, cache_speed_figure, departure_text, roofline_figure, speedup_figure,
                               times_figure)

SHIPPED = RESULTS / "latency.json"
BATCHES = [1, 2, 4, 8, 16, 32, 64]
TOKENS = [1, 16, 64, 256, 1024]


@functools.lru_cache(maxsize=1)
def shipped_result() -> dict | None:
    return json.loads(SHIPPED.read_text()) if SHIPPED.is_file() else None


def devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def lab_views(rows: list[dict], scale: LabScale, ceiling_gflops: float, bandwidth_gbs: float):
    """The departures from the decode models (markdown, empty without decode rows) and the four charts."""
    models = decode_models(rows, scale, bandwidth_gbs * 1e9, ceiling_gflops * 1e9)
    text = departure_text(models, rows, scale, bandwidth_gbs * 1e9, ceiling_gflops * 1e9) if models else ""
    return (text, speedup_figure(models, scale), times_figure(rows, "decode", tr("Decode step: ms per call"), tr("batch size")),
            times_figure(rows, "prefill", tr("Prefill: ms per call"), tr("tokens")), roofline_figure(rows, ceiling_gflops))


def tab_plan(d_model, d_expert, n_experts, top_k, batches, tokens, device, dtype="float32") -> LabPlan:
    """The tab's small plan: the chosen sizes, 5 repetitions, a quick calibration, no whole models."""
    if not batches or not tokens:
        raise UserError(tr("Choose at least one batch size and one token count."))
    if device not in devices():
        raise UserError(tr("device must be one of {choices}", choices=", ".join(devices())))
    for name, value, allowed in (("batch size", batches, BATCHES), ("token count", tokens, TOKENS)):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and int(v) in allowed for v in value):
            raise UserError(tr("each {name} must be one of {choices}", name=tr(name), choices=", ".join(map(str, allowed))))
    if dtype not in native_dtypes():
        raise UserError(tr("dtype must be one of {choices} on this machine", choices=", ".join(native_dtypes())))
    scale = LabScale(int(d_model), int(d_expert), int(n_experts), int(top_k), dtype)
    return LabPlan(scale, prefill=tuple(sorted(int(t) for t in tokens)), decode=tuple(sorted(int(b) for b in batches)),
                   repeats=5, warmup=1, ceiling_sizes=(1024,), calibration_repeats=3, device=device)


def on_run(d_model, d_expert, n_experts, top_k, batches, tokens, device, dtype="float32", progress=gr.Progress()):
    plan = run_backend(tab_plan, d_model, d_expert, n_experts, top_k, batches, tokens, device, dtype)
    result = run_backend(run, plan, lambda fraction, desc: progress(fraction, desc=desc))
    weights = plan.scale.weight_mb()
    note = tr("Measured on {device} in {dtype} ({machine}), {repeats} interleaved repetitions after {warmup} warm-up, caches "
              "flushed before every call; weights: dense-total {total:.0f} MB, the MoE's active experts {active:.0f} MB. Matmul "
              "ceiling {ceiling:.0f} GFLOP/s, read bandwidth {bandwidth:.0f} GB/s.", device=result["device"],
              dtype=plan.scale.dtype, machine=result["machine"], repeats=plan.repeats, warmup=plan.warmup,
              total=weights["dense-total"], active=weights["dense-active"], ceiling=result["ceiling_gflops"],
              bandwidth=result["bandwidth_gbs"])
    departures, *figures = lab_views(result["rows"], plan.scale, result["ceiling_gflops"], result["bandwidth_gbs"])
    return (note + "\n\n" + reliability_markdown(result.get("reliability")) + "\n\n" + departures, *figures,
            gr.Column(visible=True))  # the charts appear once there is a measurement to show


def reliability_markdown(reliability: dict | None) -> str:
    """How far to trust a lab run (older shipped runs carry no verdict)."""
    if reliability is None:
        return tr("*This run carries no reliability verdict (measured before the project checked the load).*")
    if reliability["reliable"]:
        return tr("**Reliable run**: other processes used {used:.1f} of {cores} cores; every timing's interquartile range "
                  "within {spread:.0f}% of its median.", used=reliability["competing_cores"], cores=reliability["cores"],
                  spread=100 * reliability["worst_spread"])
    reasons = unreliable_because(reliability["competing_cores"], reliability["cores"], reliability["worst_spread"],
                                 reliability.get("calibration_drift", 0.0))  # runs before 2026-12-03 did not time it
    return tr("**⚠ Unreliable run**: ") + "; ".join(reasons) + tr(". Treat the ratios below as rough.")


def moe_presets() -> list[str]:
    """Calculator presets with routed experts (the expert-cache view needs them)."""
    return [name for name in preset_names() if (p := load_preset(name)).spec is not None and p.spec.moe_layers]


def cache_views(text, n_experts, preset, weight_format, fast_gbs, slow_gbs, model=ZOO):
    """The coverage curves on the text and the implied decode speed of a real model's sizes: a loaded real
    MoE's own (its routing measured on the text), or a calculator preset's (the zoo MoE's routing)."""
    settings = validate_settings(n_experts, 1, 0, 0.0, 0, real_choice(model))
    settings = replace(settings, top_k=get_model(settings.moe_name).model.cfg.top_k)
    if preset not in moe_presets():
        raise UserError(tr("model must be one of {choices}", choices=", ".join(moe_presets())))
    if weight_format not in BYTES_PER_PARAM:
        raise UserError(tr("weight format must be one of {choices}", choices=", ".join(BYTES_PER_PARAM)))
    for name, value in (("fast bandwidth", fast_gbs), ("slow bandwidth", slow_gbs)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.01 <= value <= 100_000:
            raise UserError(tr("{name} must be between 0.01 and 100,000 GB/s, got {value!r}", name=tr(name), value=value))
    curves = measured_coverage(text, settings)
    if settings.model:
        spec, label = get_model(settings.model).model.arch, settings.model
    else:
        chosen = load_preset(preset)
        spec, label = chosen.spec, chosen.label
    uniform = cache_table(spec, BYTES_PER_PARAM[weight_format], curves.uniform, fast_gbs, slow_gbs)
    skewed = cache_table(spec, BYTES_PER_PARAM[weight_format], curves.mean, fast_gbs, slow_gbs)
    return cache_coverage_figure(curves), cache_speed_figure(f"{label}, {weight_format}", uniform, skewed, fast_gbs, slow_gbs,
                                                             settings.model or tr("the zoo model"))


def on_cache(text, n_experts, preset, weight_format, fast_gbs, slow_gbs, model=ZOO):
    return run_backend(cache_views, text, n_experts, preset, weight_format, fast_gbs, slow_gbs, model)


def on_shipped():
    """The last full benchmark run: its machine, verdict, targets, departures and charts."""
    shipped = shipped_result()
    scale = LabScale(**shipped["scale"])
    departures, *figs = lab_views(shipped["rows"], scale, shipped["ceiling_gflops"], shipped["bandwidth_gbs"])
    summary = (tr("Measured on: {machine}. ", machine=shipped["machine"]) + reliability_markdown(shipped.get("reliability"))
               + "\n\n" + "\n".join(f"- **{verdict_word(t['holds'])}**: {t['target']}: {t['measured']}"
                                      for t in targets(shipped["rows"], shipped["decode_models"], scale,
                                                       shipped["ceiling_gflops"] * 1e9))
               + "\n\n" + tr("**Where the decode curve departs from the memory-bound model, and why**") + "\n\n" + departures)
    models = times_figure(shipped["rows"], "model-decode", tr("Whole models: decode step"), tr("batch size"))
    return summary, *figs, models


def lab_charts(*labels: str) -> list[gr.Plot]:
    """The lab's four charts (speedup vs ideal, decode, prefill, roofline), two to a row, in lab_views' order."""
    charts = []
    for pair in (labels[:2], labels[2:]):
        with gr.Row():
            charts += [gr.Plot(label=label) for label in pair]
    return charts


def build_tab(demo: gr.Blocks, language_changed: gr.Button) -> None:
    gr.Markdown(t("LATENCY"))
    with gr.Row():
        d_model = gr.Slider(128, 4096, value=2048, step=128, label=l("d_model"))
        d_expert = gr.Slider(128, 4096, value=1024, step=128, label=l("expert width F"))
        n_experts = gr.Slider(2, 32, value=8, step=1, label=l("experts E"))
        top_k = gr.Slider(1, 8, value=2, step=1, label=l("top-K"))
    with gr.Row():
        batches = gr.CheckboxGroup(BATCHES, value=[1, 4, 16, 64], label=l("decode batch sizes"), elem_id="lab-batches")
        tokens = gr.CheckboxGroup(TOKENS, value=[16, 256, 1024], label=l("prefill token counts"), elem_id="lab-tokens")
        device = gr.Radio(devices(), value="cpu", label=l("device"))
        dtype = gr.Radio(native_dtypes(), value="float32", label=l("weights and activations"))
        run_button = gr.Button(l("Measure"), variant="primary")
    note = gr.Markdown()
    with gr.Column(visible=False) as measured:
        charts = lab_charts(l("Speedup vs ideal"), l("Decode"), l("Prefill"), l("Roofline"))
    run_button.click(on_run, [d_model, d_expert, n_experts, top_k, batches, tokens, device, dtype],
                     [note, *charts, measured], concurrency_limit=1, concurrency_id="latency",
                     api_visibility="private")
    if shipped_result():
        gr.Markdown(t("LATENCY_SHIPPED"))
        summary = gr.Markdown(elem_id="shipped-latency")
        shipped = lab_charts(l("Shipped: speedup vs ideal"), l("Shipped: decode"), l("Shipped: prefill"), l("Shipped: roofline"))
        shipped_models = gr.Plot(label=l("Shipped: models"))
        for trigger in (demo.load, language_changed.click):
            trigger(on_shipped, None, [summary, *shipped, shipped_models], api_visibility="private")
    build_cache_section(demo)


def build_cache_section(demo: gr.Blocks) -> None:
    gr.Markdown(t("EXPERT_CACHE"))
    with gr.Row():
        text = gr.Textbox(label=l("Text"), value=EXAMPLES.get("mix", ""), lines=3, scale=3)
        with gr.Column(scale=2):
            model = model_chooser(moe=True, elem_id="cache-model", visible=bool(real_model_names(moe=True)))
            n_experts = gr.Radio(list(EXPERT_CHOICES), value=8, label=l("Zoo MoE whose routing is measured"))
            presets = moe_presets()
            preset = gr.Dropdown(presets, value="mixtral-8x7b" if "mixtral-8x7b" in presets else presets[0],
                                 label=l("Real model (sizes from its config; a loaded MoE above uses its own)"))
    with gr.Row():
        weight_format = gr.Radio(list(BYTES_PER_PARAM), value="bf16", label=l("Weight format"))
        fast = gr.Number(1000, minimum=0.01, label=l("Fast memory bandwidth (GB/s; e.g. GPU 1000, CPU RAM 50)"))
        slow = gr.Number(25, minimum=0.01, label=l("Slow memory bandwidth (GB/s; e.g. PCIe 25, NVMe SSD 5)"))
    with gr.Row():
        coverage = gr.Plot(label=l("Look-ups served by the hot experts"))
        speed = gr.Plot(label=l("Implied decode speed"))
    controls = [text, n_experts, preset, weight_format, fast, slow, model]
    for trigger in (demo.load, text.change, n_experts.change, preset.change, weight_format.change, fast.submit, slow.submit,
                    model.change):
        trigger(on_cache, controls, [coverage, speed], trigger_mode="always_last", api_visibility="private")
