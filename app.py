"""The web page. `python app.py` serves it on 127.0.0.1 (flags and environment variables: --help).

The tabs (page/) wire controls to the backend (backend/, lab/, scale/, training/) and draw results with the pure views
in viz/; nothing here does model math. Every request carries its own settings; the loaded models are
shared read-only, so users never see each other's settings.
"""
from __future__ import annotations

import argparse
import os
import threading

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from backend.reliability import available_cores  # noqa: E402
from backend.threads import threads_for_workers  # noqa: E402
from backend.timing import warm_up  # noqa: E402
from backend.real_models import DEVICES, DTYPES, ModelLoadError, load_real_model, register, routing_cards  # noqa: E402
from models.zoo import load_member, zoo_names  # noqa: E402
from page import compare, interventions, latency, problems, scale, specialisation  # noqa: E402
from page.common import CSS, HEAD, I18N, language_marker, localize_handlers, t  # noqa: E402
from viz.rule_views import rule_words  # noqa: E402


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Dense vs Mixture-of-Experts", delete_cache=(600, 3600)) as demo:
        language_changed = language_marker()
        gr.Markdown(t("INTRO"))
        with gr.Accordion(t("GLOSSARY_TITLE"), open=False):
            gr.Markdown(t("GLOSSARY"))
        with gr.Tab(t("TAB_COMPARE")):
            compare.build_tab(demo, language_changed)
        with gr.Tab(t("TAB_INTERVENTIONS")):
            interventions.build_tab(demo, language_changed)
        with gr.Tab(t("TAB_LATENCY")):
            latency.build_tab(demo, language_changed)
        with gr.Tab(t("TAB_PROBLEMS")):
            problems.build_tab(demo, language_changed)
        with gr.Tab(t("TAB_SPECIALISATION")):
            specialisation.build_tab(demo, language_changed)
        with gr.Tab(t("TAB_SCALE")):
            scale.build_tab(demo, language_changed)
        gr.api(compare.analyze_api, api_name="analyze")
        gr.api(compare.generate_api, api_name="generate")
        for endpoint in (interventions.top_k_sweep_api, interventions.ablate_api, interventions.importance_api,
                         interventions.force_api):
            gr.api(endpoint, api_name=endpoint.__name__.removesuffix("_api"))
        gr.api(problems.expert_parallel_api, api_name="expert_parallel", concurrency_limit=1, concurrency_id="latency")
    localize_handlers(demo)
    return demo


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the dense-vs-MoE page.")
    parser.add_argument("--host", default=os.environ.get("MOE_APP_HOST", "127.0.0.1"), help="bind address (env MOE_APP_HOST)")
    parser.add_argument("--port", type=int, default=env_int("MOE_APP_PORT", 7860), help="port (env MOE_APP_PORT)")
    parser.add_argument("--queue-size", type=int, default=env_int("MOE_APP_QUEUE_SIZE", 64),
                        help="requests waiting beyond this are refused with 'queue full, retry' (env MOE_APP_QUEUE_SIZE)")
    parser.add_argument("--concurrency", type=int, default=env_int("MOE_APP_CONCURRENCY", 2),
                        help="analyses (and API calls) served at once (env MOE_APP_CONCURRENCY)")
    parser.add_argument("--threads", type=int, default=env_int("MOE_TORCH_THREADS", 0),
                        help="torch threads per request (env MOE_TORCH_THREADS); default: cores // concurrency, so that "
                             "concurrent requests x threads never exceed the cores")
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public share link (off unless asked)")
    parser.add_argument("--model", action="append", default=[], metavar="PATH_OR_HUB_ID",
                        help="also load this Hugging Face causal LM (repeatable): a local checkpoint directory (never "
                             "touches the network) or a hub id (downloaded once, because you named it). MoE families "
                             "get this project's routing; dense models serve as twins")
    parser.add_argument("--dtype", choices=list(DTYPES), default="auto",
                        help="dtype of --model weights (default: the checkpoint's own, bf16 for most)")
    parser.add_argument("--device", choices=list(DEVICES), default="cpu",
                        help="where --model weights go: cpu (in memory; refused if they do not fit), cuda (the first GPU) "
                             "or auto (accelerate spreads the layers over the GPUs, the memory and, with --offload-dir, "
                             "the disk: a model larger than a GPU or than the memory loads)")
    parser.add_argument("--max-memory", action="append", default=[], metavar="DEVICE=SIZE", type=memory_cap,
                        help="with --device auto, cap one device (repeatable): 0=70GiB (GPU 0), cpu=16GiB")
    parser.add_argument("--offload-dir", default=None, metavar="DIR",
                        help="with --device auto, the folder for the layers that fit on no device")
    return parser.parse_args(argv)


def memory_cap(text: str) -> tuple[int | str, int | str]:
    """"0=70GiB" -> (0, "70GiB"); "cpu=16GiB" -> ("cpu", "16GiB"); "cpu=1000000" -> ("cpu", 1000000) bytes (accelerate's
    max_memory entries)."""
    device, sep, size = text.partition("=")
    if not sep or not size or not (device.isdigit() or device == "cpu"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected DEVICE=SIZE, e.g. 0=70GiB or cpu=16GiB")
    return (int(device) if device.isdigit() else device), (int(size) if size.isdigit() else size)


def load_real_models(args: argparse.Namespace) -> None:
    """Load and register every --model before the page is built (its choices list them); a model that
    cannot be loaded stops the start with the reason."""
    for source in args.model:
        try:
            member = load_real_model(source, args.dtype, device=args.device, max_memory=dict(args.max_memory) or None,
                                     offload_dir=args.offload_dir)
            register(member)
        except ModelLoadError as e:
            raise SystemExit(f"--model: {e}") from None
        print(f"loaded {source}: {member.spec.description}")
        for card in routing_cards():
            if card["name"] == member.spec.name:
                print(f"  routing: {rule_words(card['rule'], card['n_experts'], card['top_k'], card['gate_input'], card['shared'])}")


if __name__ == "__main__":
    args = parse_args()
    load_real_models(args)
    demo = build_demo()
    threads = args.threads or threads_for_workers(args.concurrency)
    if threads * args.concurrency > available_cores():
        print(f"warning: {args.concurrency} concurrent requests x {threads} torch threads exceed the "
              f"{available_cores()} cores this process may use: timings will thrash")
    torch.set_num_threads(threads)
    # load (and warm up) every model while the server starts, so the first request finds them ready
    threading.Thread(target=lambda: [warm_up(load_member(name).model) for name in zoo_names()], daemon=True).start()
    demo.queue(max_size=args.queue_size, default_concurrency_limit=args.concurrency).launch(
        server_name=args.host, server_port=args.port, share=args.share, css=CSS, head=HEAD, i18n=I18N)
