"""The "Latency lab" tab: run the lab (lab/run.py, the benchmark's own entry) at a chosen scale on this
machine, and see the last full benchmark run (`python -m benchmarks.latency`)."""
from __future__ import annotations

import functools
import json

import gradio as gr
import torch

from errors import UserError
from lab.roofline import decode_models
from lab.run import LabPlan, run
from lab.variants import LabScale
from page.common import run_backend
from paths import RESULTS
from viz import page_text
from viz.latency_views import departure_text, roofline_figure, speedup_figure, times_figure

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
    return (text, speedup_figure(models, scale), times_figure(rows, "decode", "Decode step: ms per call", "batch size"),
            times_figure(rows, "prefill", "Prefill: ms per call", "tokens"), roofline_figure(rows, ceiling_gflops))


def tab_plan(d_model, d_expert, n_experts, top_k, batches, tokens, device) -> LabPlan:
    """The tab's small plan: the chosen sizes, 5 repetitions, a quick calibration, no whole models."""
    if not batches or not tokens:
        raise UserError("Choose at least one batch size and one token count.")
    if device not in devices():
        raise UserError(f"device must be one of {', '.join(devices())}")
    for name, value, allowed in (("batch size", batches, BATCHES), ("token count", tokens, TOKENS)):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and int(v) in allowed for v in value):
            raise UserError(f"each {name} must be one of {', '.join(map(str, allowed))}")
    scale = LabScale(int(d_model), int(d_expert), int(n_experts), int(top_k))
    return LabPlan(scale, prefill=tuple(sorted(int(t) for t in tokens)), decode=tuple(sorted(int(b) for b in batches)),
                   repeats=5, warmup=1, ceiling_sizes=(1024,), calibration_repeats=3, device=device)


def on_run(d_model, d_expert, n_experts, top_k, batches, tokens, device, progress=gr.Progress()):
    plan = run_backend(tab_plan, d_model, d_expert, n_experts, top_k, batches, tokens, device)
    result = run_backend(run, plan, lambda fraction, desc: progress(fraction, desc=desc))
    weights = plan.scale.weight_mb()
    note = (f"Measured on {result['device']} ({result['machine']}), {plan.repeats} interleaved repetitions after "
            f"{plan.warmup} warm-up, caches flushed before every call; weights: dense-total {weights['dense-total']:.0f} MB, "
            f"the MoE's active experts {weights['dense-active']:.0f} MB. Matmul ceiling {result['ceiling_gflops']:.0f} GFLOP/s, "
            f"read bandwidth {result['bandwidth_gbs']:.0f} GB/s.")
    departures, *figures = lab_views(result["rows"], plan.scale, result["ceiling_gflops"], result["bandwidth_gbs"])
    return (note + "\n\n" + departures, *figures)


def build_tab(demo: gr.Blocks) -> None:
    gr.Markdown(page_text.LATENCY)
    with gr.Row():
        d_model = gr.Slider(128, 4096, value=2048, step=128, label="d_model")
        d_expert = gr.Slider(128, 4096, value=1024, step=128, label="expert width F")
        n_experts = gr.Slider(2, 32, value=8, step=1, label="experts E")
        top_k = gr.Slider(1, 8, value=2, step=1, label="top-K")
    with gr.Row():
        batches = gr.CheckboxGroup(BATCHES, value=[1, 4, 16, 64], label="decode batch sizes", elem_id="lab-batches")
        tokens = gr.CheckboxGroup(TOKENS, value=[16, 256, 1024], label="prefill token counts", elem_id="lab-tokens")
        device = gr.Radio(devices(), value="cpu", label="device")
        run_button = gr.Button("Measure", variant="primary")
    note = gr.Markdown()
    with gr.Row():
        speedup = gr.Plot(label="Speedup vs ideal")
        decode = gr.Plot(label="Decode")
    with gr.Row():
        prefill = gr.Plot(label="Prefill")
        roofline = gr.Plot(label="Roofline")
    run_button.click(on_run, [d_model, d_expert, n_experts, top_k, batches, tokens, device],
                     [note, speedup, decode, prefill, roofline], concurrency_limit=1, concurrency_id="latency",
                     api_visibility="private")
    shipped = shipped_result()
    if shipped:
        scale = LabScale(**shipped["scale"])
        departures, *figs = lab_views(shipped["rows"], scale, shipped["ceiling_gflops"], shipped["bandwidth_gbs"])
        gr.Markdown(page_text.LATENCY_SHIPPED + f"\n\nMeasured on: {shipped['machine']}.\n\n" + "\n".join(
            f"- **{'met' if t['holds'] else 'missed'}**: {t['target']}: {t['measured']}" for t in shipped["targets"])
            + "\n\n**Where the decode curve departs from the memory-bound model, and why**\n\n" + departures)
        with gr.Row():
            gr.Plot(figs[0], label="Shipped: speedup vs ideal")
            gr.Plot(figs[1], label="Shipped: decode")
        with gr.Row():
            gr.Plot(figs[2], label="Shipped: prefill")
            gr.Plot(figs[3], label="Shipped: roofline")
        gr.Plot(times_figure(shipped["rows"], "model-decode", "Whole models: decode step", "batch size"), label="Shipped: models")
