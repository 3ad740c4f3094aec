"""The web page. `python app.py` serves it on 127.0.0.1 (see --help for host, port and queue flags).

This stage of the page shows the parameter accounting of the backbone's reference configurations;
the comparison views arrive with the trained model zoo. The page does no model math itself.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from models.config import ModelConfig  # noqa: E402
from models.params import count_params  # noqa: E402

REFERENCE_CONFIGS = {
    "dense": ModelConfig(),
    "MoE, 8 experts, top-2": ModelConfig(ffn_kind="moe", n_experts=8, top_k=2, d_ff=256),
}


def parameter_table() -> pd.DataFrame:
    rows = []
    for name, cfg in REFERENCE_CONFIGS.items():
        report = count_params(cfg)
        rows.append({"model": name, "total parameters": report.total.total, "active parameters / token": report.active.total})
    return pd.DataFrame(rows)


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Dense vs Mixture-of-Experts") as demo:
        gr.Markdown(
            "# Dense vs Mixture-of-Experts\n"
            "An MoE layer replaces the one feed-forward block of a transformer with many *experts* and a "
            "router that sends each token to only a few of them: many parameters in total, few used per token."
        )
        gr.Dataframe(value=parameter_table(), label="Parameters (counted from each configuration)", interactive=False)
    return demo


demo = build_demo()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the dense-vs-MoE page.")
    parser.add_argument("--host", default=os.environ.get("MOE_APP_HOST", "127.0.0.1"), help="bind address (env MOE_APP_HOST)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOE_APP_PORT", "7860")), help="port (env MOE_APP_PORT)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    demo.launch(server_name=args.host, server_port=args.port, share=False)
