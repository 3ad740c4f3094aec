"""Parameter and FLOP accounting derived from a ModelConfig alone (tests check it against modules).

Components: embedding, attention, norms, router, ffn (the dense FFN, or all experts), head.
"Active" parameters are those a token's forward pass uses: all but the experts it is not routed to,
so the FFN counts top_k / n_experts of its experts. Two conventions are reported: `active` counts
every parameter a token touches (input embedding and head included, as Mixtral's "12.9B active"
does), `active_non_embedding` leaves out the input embedding and head matrices (Kaplan et al. 2020).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from models.config import ModelConfig

COMPONENTS = ("embedding", "attention", "norms", "router", "ffn", "head")


@dataclass(frozen=True)
class ParamCounts:
    embedding: int
    attention: int
    norms: int
    router: int
    ffn: int
    head: int  # 0 when the head is tied to the embedding

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ParamReport:
    total: ParamCounts
    active: ParamCounts  # per token

    @property
    def active_non_embedding(self) -> int:
        return self.active.total - self.active.embedding - self.active.head


def count_params(cfg: ModelConfig, top_k: int | None = None) -> ParamReport:
    """Total and per-token active parameters; top_k overrides the config's (routing at inference)."""
    d, layers = cfg.d_model, cfg.n_layers
    k = cfg.top_k if top_k is None else top_k
    if not 1 <= k <= cfg.n_experts:
        raise ValueError(f"top_k must be between 1 and {cfg.n_experts}, got {k}")
    expert = 3 * d * cfg.d_ff  # SwiGLU: gate, up, down
    router = 0
    if cfg.is_moe:
        router = layers * d * cfg.n_experts * (2 if cfg.router == "noisy" else 1)
    total = ParamCounts(
        embedding=cfg.vocab_size * d,
        attention=layers * 4 * d * d,  # fused qkv (3 D^2) + output projection (D^2)
        norms=(2 * layers + 1) * d,
        router=router,
        ffn=layers * cfg.n_experts * expert,
        head=0 if cfg.tie_embeddings else cfg.vocab_size * d,
    )
    active = ParamCounts(**{**total.as_dict(), "ffn": layers * k * expert})
    return ParamReport(total=total, active=active)


def flops_per_token(cfg: ModelConfig, context: int, top_k: int | None = None) -> int:
    """Forward FLOPs for one token at the given context length: the scale calculator's formula
    (models/scale.py, Kaplan et al. 2020) applied to this config."""
    from models.architectures import parse_project_config
    from models.scale import flops_per_token as spec_flops

    count_params(cfg, top_k)  # validates top_k
    return spec_flops(parse_project_config(cfg.to_dict()), context, top_k)


def main(argv: list[str] | None = None) -> None:
    """`python -m models.params <config.json or preset> [--json]`: the scale calculator's CLI."""
    import argparse
    import json
    from pathlib import Path

    from models.architectures import ConfigError, parse_config
    from models.presets import load_preset, preset_names
    from models.scale_report import scale_report

    parser = argparse.ArgumentParser(description="Total/active parameters, FLOPs and memory of a model.")
    parser.add_argument("model", help=f"a config.json path or a preset: {', '.join(preset_names())}")
    parser.add_argument("--context", type=int, default=4096, help="context length for FLOPs per token")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        path = Path(args.model)
        if path.is_file():
            label, spec, published = path.name, parse_config(json.loads(path.read_text())), {}
        else:
            preset = load_preset(args.model)
            label, spec, published = preset.label, preset.spec, preset.published
    except (ConfigError, json.JSONDecodeError) as e:
        parser.exit(2, f"error: {e}\n")
    report = scale_report(label, spec, published, args.context)
    print(json.dumps(report, indent=2) if args.json else report["text"])


if __name__ == "__main__":
    main()
