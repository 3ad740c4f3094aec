"""The main tab: paste text, see routing, dense vs MoE side by side, and the JSON API."""
from __future__ import annotations

import functools
import math
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr

from backend.analysis import (EXPERT_CHOICES, AnalysisReport, analyze_text, measure_report_latency, next_token_predictions,
                              validate_settings)
from backend.generation import MAX_NEW_TOKENS, MAX_TEMPERATURE, continue_text
from backend.layer_steps import layer_steps
from backend.model_card import model_card
from backend.real_models import get_model, real_model_names, routing_cards
from backend.timing import native_dtypes
from backend.specialisation import text_specialisation
from errors import int_in_range
from paths import zoo_dir
from page.common import EXAMPLES, ZOO, l, model_chooser, real_choice, run_backend, t
from text import explanation, tr
from viz.generation_views import continuations_html
from training.log import LOG_FILE, TrainLog, read_run_log
from viz.comparison_views import (comparison_table, differences_text, latency_figure, loss_figure, model_card_markdown,
                                  parameters_figure, training_curves_figure)
from viz.routing_views import (expert_load_figure, pinned_figure, predictions_table, routing_heatmap, routing_table,
                               token_strip_html)
from viz.specialisation_views import repeat_figure, top_tokens_table
from viz.rule_views import routing_cards_markdown, steps_markdown
from viz.tables import markdown_table


def routing_views(report: AnalysisReport, layer):
    layer = run_backend(int_in_range, "layer", layer, 0, len(report.routing) - 1)
    notices = "\n".join(f"> ⚠️ {n}" for n in report.notices)
    s = report.settings
    summary = (tr("**{n} tokens** analysed by `{model}` with top-{k}", n=len(report.tokens), model=report.moe.name, k=s.top_k)
               + ("" if s.capacity_factor is None else tr(", capacity factor {value}", value=s.capacity_factor))
               + ("" if not s.noise_std else tr(", router noise std {std} (seed {seed})", std=s.noise_std, seed=s.noise_seed)))
    return (notices + "\n\n" + summary, token_strip_html(report, layer), routing_heatmap(report),
            expert_load_figure(report, layer))


def comparison_views(report: AnalysisReport):
    return (comparison_table(report), differences_text(report), parameters_figure(report), latency_figure(report),
            loss_figure(report))


def write_downloads(report: AnalysisReport) -> tuple[str, str]:
    directory = Path(tempfile.mkdtemp(prefix="moe_report_"))
    csv_path, json_path = directory / "routing_table.csv", directory / "report.json"
    routing_table(report).to_csv(csv_path, index=False)
    json_path.write_text(report.to_json())
    return str(csv_path), str(json_path)


def cleared(message: str) -> tuple:
    """Every output of an analysis emptied, with `message` where the summary goes: no stale result stays on
    screen or in the downloads."""
    return None, message, "", None, None, None, "", None, None, None, None, None


class LatestAnalysis:
    """Each session's latest analysis (the id of its report, None once cleared), so that a timing which
    finishes after a newer analysis, or after the text was cleared, does not bring the old results back."""

    def __init__(self, sessions: int = 10_000):
        self._latest: OrderedDict[str, int | None] = OrderedDict()
        self._lock, self._sessions = threading.Lock(), sessions

    def remember(self, request: gr.Request | None, report: AnalysisReport | None) -> None:
        if request is None:
            return
        with self._lock:
            self._latest[request.session_hash] = None if report is None else id(report)
            self._latest.move_to_end(request.session_hash)
            while len(self._latest) > self._sessions:
                self._latest.popitem(last=False)

    def is_latest(self, request: gr.Request | None, report: AnalysisReport) -> bool:
        if request is None:
            return True
        with self._lock:
            return self._latest.get(request.session_hash, id(report)) == id(report)


LATEST = LatestAnalysis()


def on_analyze(text, n_experts, top_k, capacity_factor, noise_std, noise_seed, layer, model=ZOO, dense_model=ZOO,
               request: gr.Request = None):
    """Analysis, views and downloads of the new settings at once (the timing follows in on_measure)."""
    if isinstance(text, str) and not text.strip():
        LATEST.remember(request, None)
        return cleared(explanation("EMPTY_TEXT"))
    settings = run_backend(validate_settings, n_experts, top_k, capacity_factor, noise_std, noise_seed, real_choice(model),
                           real_choice(dense_model))
    report = run_backend(analyze_text, text, settings)
    LATEST.remember(request, report)
    return (report, *routing_views(report, layer), *comparison_views(report), *write_downloads(report))


def on_measure(report: AnalysisReport | None, dtype="float32", request: gr.Request = None):
    """The report's timing; nothing when there is no report, or when a newer analysis (or a cleared text)
    replaced it while the timing ran."""
    if report is None or not LATEST.is_latest(request, report):
        return (gr.skip(),) * 8
    measured = run_backend(measure_report_latency, report, 5, 16, dtype)
    if not LATEST.is_latest(request, report):
        return (gr.skip(),) * 8
    LATEST.remember(request, measured)
    return (measured, *comparison_views(measured), *write_downloads(measured))


def on_text_specialisation(report: AnalysisReport | None, layer):
    if report is None:
        return gr.skip(), gr.skip()
    layer = run_backend(int_in_range, "layer", layer, 0, len(report.routing) - 1)
    stats = run_backend(text_specialisation, report.moe.name, report.token_ids, report.settings.routing()).to_dict()
    return repeat_figure(stats, layer), markdown_table(top_tokens_table(stats, layer),
                                                       tr("Each expert's most frequent tokens in this text"))


def on_pin(report: AnalysisReport | None, position, layer=0):
    """The pinned token: (note, its view shown, its router distribution in every layer, each model's
    next-token predictions, the shown layer's computation for it step by step)."""
    if report is None or position is None or position < 0:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    position = run_backend(int_in_range, "token position", position, 0, len(report.tokens) - 1)
    predictions = run_backend(next_token_predictions, report, position)
    steps = run_backend(layer_steps, report, position, min(layer or 0, len(report.routing) - 1))
    note = tr("**Token {position} '{token}'** (click another token to move the pin): where the router sends it in every "
              "layer, and what each model expects next.", position=position, token=report.tokens[position])
    return (note, gr.Column(visible=True), pinned_figure(report, position), predictions_table(predictions),
            steps_markdown(steps))


def on_repin(report: AnalysisReport | None, position, layer=0):
    """After a new analysis: (pin position, *on_pin's outputs) for the new report, so the pinned view never
    shows an earlier text or setting; a pin beyond the new text is dropped and its view hidden."""
    if report is not None and position is not None and 0 <= position < len(report.tokens):
        return gr.skip(), *on_pin(report, position, layer)
    return -1, explanation("PIN_HELP"), gr.Column(visible=False), gr.skip(), gr.skip(), gr.skip()


def on_layer(report: AnalysisReport | None, layer):
    if report is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return routing_views(report, layer)


def on_experts(n_experts, model=ZOO):
    """The top-K and layer sliders fitted to the chosen MoE (its experts, its MoE layers); top-K starts at the
    value the model was trained with (2 for moe-4/8/16, 8 for the fine-grained moe-32)."""
    settings = run_backend(validate_settings, n_experts, 1, 0, 0, 0, real_choice(model))
    cfg = run_backend(get_model, settings.moe_name).model.cfg
    return gr.Slider(maximum=settings.n_experts, value=cfg.top_k), gr.Slider(maximum=cfg.n_layers - 1, value=0)


def on_generate(text, n_experts, top_k, capacity_factor, noise_std, noise_seed, layer, model, dense_model, new_tokens,
                temperature, seed):
    """Each model continues the text under the chosen routing settings."""
    settings = run_backend(validate_settings, n_experts, top_k, capacity_factor, noise_std, noise_seed, real_choice(model),
                           real_choice(dense_model))
    layers = run_backend(get_model, settings.moe_name).model.cfg.n_layers
    layer = run_backend(int_in_range, "layer", layer, 0, layers - 1)
    return continuations_html(run_backend(continue_text, text, settings, new_tokens, temperature, seed), layer)


def generate_api(text: str, n_experts: int = 8, top_k: int = 2, new_tokens: int = 32, temperature: float = 0.0,
                 seed: int = 0, model: str = "", dense_model: str = "") -> dict:
    """The MoE and its dense twins each continue the text (temperature 0 = greedy; seeded sampling otherwise):
    generated tokens, the MoE's first-choice expert per generated token and layer, tokens/s while generating."""
    settings = run_backend(validate_settings, n_experts, top_k, 0, 0.0, 0, real_choice(model), real_choice(dense_model))
    return run_backend(continue_text, text, settings, new_tokens, temperature, seed).to_dict()


def analyze_api(text: str, n_experts: int = 8, top_k: int = 2, capacity_factor: float = 0.0,
                noise_std: float = 0.0, noise_seed: int = 0, measure_latency: bool = False, model: str = "",
                dense_model: str = "", timing_dtype: str = "float32") -> dict:
    """Analyse a text with the chosen MoE and its dense twins; returns the full report as JSON.

    capacity_factor 0 means no capacity limit. measure_latency adds measured prefill/decode timings (slower).
    model: a loaded real MoE ("" = the zoo's moe-<n_experts>, whose twins are dense and dense-wide);
    dense_model: a loaded dense twin ("" = the zoo's twins with a zoo MoE, none with a real one).
    timing_dtype: float32, or bfloat16 where the CPU has bf16 instructions (the zoo's models; a real model
    is timed in the dtype it was loaded in).
    """
    settings = run_backend(validate_settings, n_experts, top_k, capacity_factor, noise_std, noise_seed, real_choice(model),
                           real_choice(dense_model))
    report = run_backend(analyze_text, text, settings)
    if measure_latency:
        report = run_backend(measure_report_latency, report, 5, 16, timing_dtype)
    return report.to_dict()


@functools.lru_cache(maxsize=1)
def held_out_logs(names: tuple[str, ...]) -> dict[str, TrainLog]:
    """Each member's logged held-out evaluations (the rows of its training log that carry one), read once:
    the shipped logs do not change while the page runs."""
    logs = {name: read_run_log(zoo_dir() / name) for name in names if (zoo_dir() / name / LOG_FILE).is_file()}
    return {name: TrainLog([row for row in log.rows if math.isfinite(row.get("held_out_loss", math.nan))])
            for name, log in logs.items()}


def on_model_card():
    """The model card and every member's held-out curve (its training log)."""
    card = model_card()
    real = routing_cards_markdown(routing_cards())
    return (model_card_markdown(card) + ("\n\n" + real if real else ""),
            training_curves_figure(card, held_out_logs(tuple(m["name"] for m in card["members"]))))


def build_tab(demo: gr.Blocks, language_changed: gr.Button) -> None:
    report_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label=l("Text to analyse"), value=EXAMPLES.get("mix", ""), lines=6, max_lines=14,
                              elem_id="input-text")
            gr.Examples([[EXAMPLES[k]] for k in ("english", "russian", "python", "mix") if k in EXAMPLES],
                        inputs=[text], label=l("Examples: English, Russian, Python code, a mix"))
        with gr.Column(scale=2):
            with gr.Row(visible=bool(real_model_names())):
                model = model_chooser(moe=True, elem_id="model")
                dense_model = model_chooser(moe=False, elem_id="dense-model")
            n_experts = gr.Radio(list(EXPERT_CHOICES), value=8, label=l("Number of experts (MoE model)"), elem_id="n-experts")
            top_k = gr.Slider(1, 8, value=2, step=1, label=l("top-K (experts per token)"), elem_id="top-k")
            capacity = gr.Slider(0, 4, value=0, step=0.25, label=l("Capacity factor (0 = no limit)"), elem_id="capacity")
            with gr.Row():
                noise_std = gr.Slider(0, 3, value=0, step=0.1, label=l("Router noise (std)"), elem_id="noise")
                noise_seed = gr.Number(0, precision=0, minimum=0, label=l("Noise seed"))
            layer = gr.Slider(0, 3, value=0, step=1, label=l("Layer to show"), elem_id="layer")
            gr.Markdown(t("CONTROLS_HELP"))
    status = gr.Markdown(elem_id="status")
    gr.Markdown(t("ROUTING"))
    strip = gr.HTML(elem_id="token-strip")
    with gr.Row():
        pin_note = gr.Markdown(t("PIN_HELP"))
        pin_position = gr.Number(-1, precision=0, minimum=-1, label=l("Pinned token position"), elem_id="pin-position", scale=0)
    with gr.Column(visible=False) as pin_view:  # shown once a token is pinned
        pin_plot = gr.Plot(label=l("Pinned token: router distribution"))
        pin_table = gr.Dataframe(label=l("Pinned token: each model's top-5 next tokens"), interactive=False, wrap=True,
                                 elem_id="pin-predictions")
        gr.Markdown(t("STEPS"))
        pin_steps = gr.Markdown(elem_id="pin-steps", elem_classes="wide-table")
    gr.Markdown(t("HEATMAP"))
    heatmap = gr.Plot(label=l("Routing heatmap"))
    gr.Markdown(t("LOAD"))
    load = gr.Plot(label=l("Expert load"))
    gr.Markdown(t("COMPARE"))
    table = gr.Dataframe(label=l("The MoE beside its dense twins"), interactive=False,
                         elem_id="comparison", wrap=True)
    differences = gr.Markdown(elem_id="differences")
    timing_dtype = gr.Radio(native_dtypes(), value="float32", label=l("Timing: weights and activations in"),
                            visible=len(native_dtypes()) > 1, elem_id="timing-dtype")
    with gr.Row():
        params_plot = gr.Plot(label=l("Parameters"))
        latency_plot = gr.Plot(label=l("Measured latency"))
    loss_plot = gr.Plot(label=l("Per-token loss"))
    gr.Markdown(t("GENERATION"))
    with gr.Row():
        new_tokens = gr.Slider(4, MAX_NEW_TOKENS, value=24, step=4, label=l("New tokens"))
        temperature = gr.Slider(0, MAX_TEMPERATURE, value=0, step=0.1, label=l("Temperature (0 = greedy)"))
        seed = gr.Number(0, precision=0, minimum=0, label=l("Sampling seed"))
        generate_button = gr.Button(l("Continue the text"), variant="primary")
    continuations = gr.HTML(elem_id="continuations")
    with gr.Accordion(t("MODEL_CARD_TITLE"), open=False):
        card = gr.Markdown(elem_id="model-card", elem_classes="wide-table")
        gr.Markdown(t("TRAINING_CURVES"))
        curves = gr.Plot(label=l("Training curves"))
    with gr.Accordion(l("Specialisation on this text"), open=False):
        gr.Markdown(t("TEXT_SPECIALISATION"))
        spec_repeats = gr.Plot(label=l("Neighbouring tokens"))
        spec_tokens = gr.Markdown(elem_id="text-expert-tokens", elem_classes="wide-table")
    with gr.Row():
        csv_file = gr.File(label=l("Routing table (CSV)"))
        json_file = gr.File(label=l("Full report (JSON)"))

    controls = [text, n_experts, top_k, capacity, noise_std, noise_seed, layer, model, dense_model]
    routing_out = [status, strip, heatmap, load]
    compare_out = [table, differences, params_plot, latency_plot, loss_plot]
    pin_out = [pin_note, pin_view, pin_plot, pin_table, pin_steps]

    followups = []  # specialisation panels and timings in flight; a new analysis makes them stale

    def analyse_then_measure(event):
        # analysis is fast and may run beside a timing; timings run one at a time so that they do not
        # disturb each other (concurrency_id "latency")
        analysed = event(on_analyze, controls, [report_state, *routing_out, *compare_out, csv_file, json_file],
                         show_progress="minimal", trigger_mode="always_last", concurrency_limit="default",
                         concurrency_id="analysis", api_visibility="private")
        followups.append(analysed.success(on_repin, [report_state, pin_position, layer], [pin_position, *pin_out],
                                          show_progress="hidden", api_visibility="private"))
        panel = analysed.success(
            on_text_specialisation, [report_state, layer], [spec_repeats, spec_tokens], show_progress="minimal",
            concurrency_limit="default", concurrency_id="analysis", api_visibility="private")
        followups.extend([panel, panel.success(
            on_measure, [report_state, timing_dtype], [report_state, *compare_out, csv_file, json_file],
            show_progress="minimal", concurrency_limit=1, concurrency_id="latency", api_visibility="private")])

    analyse_then_measure(text.change)
    for control in (top_k, capacity, noise_std, noise_seed):
        analyse_then_measure(control.input)
    for chooser in (n_experts, model):
        analyse_then_measure(chooser.change(on_experts, [n_experts, model], [top_k, layer], api_visibility="private").then)
    analyse_then_measure(dense_model.change)
    timing_dtype.input(on_measure, [report_state, timing_dtype], [report_state, *compare_out, csv_file, json_file],
                       show_progress="minimal", concurrency_limit=1, concurrency_id="latency", api_visibility="private")
    generate_button.click(on_generate, [*controls, new_tokens, temperature, seed], [continuations], concurrency_limit=1,
                          concurrency_id="latency", api_visibility="private")
    # a click on a token writes its position (read in the browser, see page/common.PIN_SCRIPT) into pin_position
    strip.click(None, None, [pin_position], js="() => window.moePinnedToken ?? -1")
    pin_position.change(on_pin, [report_state, pin_position, layer], pin_out, api_visibility="private")
    layer.input(on_layer, [report_state, layer], routing_out, api_visibility="private").then(
        on_text_specialisation, [report_state, layer], [spec_repeats, spec_tokens], api_visibility="private").then(
        on_pin, [report_state, pin_position, layer], pin_out, api_visibility="private")
    analyse_then_measure(demo.load)
    analyse_then_measure(language_changed.click)
    for trigger in (demo.load, language_changed.click):
        trigger(on_model_card, None, [card, curves], api_visibility="private")
    # a stale timing must not overwrite a newer analysis: every change cancels the follow-ups in flight
    for trigger in (text.change, top_k.input, capacity.input, noise_std.input, noise_seed.input, n_experts.change,
                    model.change, dense_model.change):
        trigger(None, None, None, cancels=followups, api_visibility="private")
