"""One model's scale figures as a plain dict (for the CLI, the page and tests) plus a text table."""
from __future__ import annotations

import json

from models.params import BYTES_PER_PARAM, CONVENTIONS, ArchSpec, active_params, breakdown, expected_experts_read, flops_per_token
from scale.architectures import ConfigError, parse_config
from scale.presets import load_preset, parse_size

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)


AGREEMENT_RULE = ("A published count agrees when it is the computed one rounded or truncated to its last digit "
                  "(Qwen3's 3.35B is published as 3.3B) or within 1% of it; a size name (Llama 2's '70B') agrees "
                  "within 5%. Active parameters are compared under the authors' convention, or under each "
                  "convention when they did not state one.")


def agrees(computed: int, text: str, nominal: bool = False) -> bool:
    """AGREEMENT_RULE for one figure ('46.7B')."""
    value, half_unit = parse_size(text)
    if nominal:
        return abs(computed - value) <= 0.05 * value
    return value - half_unit <= computed < value + 2 * half_unit or abs(computed - value) <= 0.01 * value


def _published_check(spec: ArchSpec, published: dict) -> dict | None:
    """Computed vs published figures under AGREEMENT_RULE; None when nothing was published."""
    if not published.get("total"):
        return None
    nominal = bool(published.get("nominal"))

    check = {"total": {"published": published["total"], "computed": breakdown(spec).total}}
    check["total"]["within"] = agrees(check["total"]["computed"], published["total"], nominal)
    if published.get("active"):
        conventions = [published["convention"]] if published.get("convention") else list(CONVENTIONS)
        agreeing = [c for c in conventions if agrees(active_params(spec, c), published["active"], nominal)]
        check["active"] = {"published": published["active"], "computed": active_params(spec, (agreeing or conventions)[0]),
                           "within": bool(agreeing), "conventions": agreeing}
    return check


def scale_report(label: str, spec: ArchSpec | None, published: dict, context: int = 4096) -> dict:
    if spec is None:
        text = f"{label}: architecture not published, so nothing is computed.\nSource: {published.get('source', '')}"
        return {"label": label, "unpublished": True, "source": published.get("source"), "quote": published.get("quote"),
                "where": published.get("where"), "text": text}
    total = breakdown(spec)
    active = breakdown(spec, active=True)
    moe = spec.moe_layers
    report = {
        "label": label,
        "family": spec.family,
        "total_params": total.total,
        "total_breakdown": total.as_dict(),
        "active_breakdown": active.as_dict(),
        "active_params": {c: active_params(spec, c) for c in CONVENTIONS},
        "authors_convention": published.get("convention"),
        "published": _published_check(spec, published),
        "source": published.get("source"),
        "quote": published.get("quote"),  # the source's words, verbatim
        "where": published.get("where"),
        "context": context,
        "flops_per_token": flops_per_token(spec, context),
        "weight_gb": {fmt: total.total * b / 1e9 for fmt, b in BYTES_PER_PARAM.items()},
        "layers": len(spec.layers),
        "moe_layers": len(moe),
        "experts": moe[0].ffn.n_experts if moe else 0,
        "top_k": moe[0].ffn.top_k if moe else 0,
        "experts_read": {b: expected_experts_read(moe[0].ffn.n_experts, moe[0].ffn.top_k, b) for b in BATCHES} if moe else {},
        "unknown_fields": list(spec.unknown_fields),
    }
    report["text"] = _text(report)
    return report


def _fmt(n: float) -> str:
    return f"{n / 1e9:,.2f}B" if n >= 1e8 else f"{n / 1e6:,.2f}M"


def _text(r: dict) -> str:
    lines = [f"{r['label']} ({r['family']}): {r['layers']} layers, {r['moe_layers']} MoE"
             + (f" ({r['experts']} experts, top-{r['top_k']})" if r["moe_layers"] else "")]
    lines.append(f"{'component':<16}{'total':>14}{'active/token':>16}")
    for name, value in r["total_breakdown"].items():
        lines.append(f"{name:<16}{_fmt(value):>14}{_fmt(r['active_breakdown'][name]):>16}")
    lines.append(f"{'TOTAL':<16}{_fmt(r['total_params']):>14}{_fmt(r['active_params']['all']):>16}")
    lines.append("active per token by convention: " + ", ".join(f"{c} {_fmt(v)}" for c, v in r["active_params"].items())
                 + (f" (the authors use '{r['authors_convention']}')" if r["authors_convention"] else ""))
    if r["published"]:
        lines.append("published: " + "; ".join(
            f"{k} {v['published']} vs computed {_fmt(v['computed'])} ({'agrees' if v['within'] else 'DIFFERS'}"
            + (f" under: {', '.join(v['conventions'])}" if v.get("conventions") else "") + ")"
            for k, v in r["published"].items()))
    lines.append(f"forward FLOPs per token at context {r['context']}: {r['flops_per_token'] / 1e9:,.2f} GFLOP")
    lines.append("weights: " + ", ".join(f"{fmt} {gb:,.1f} GB" for fmt, gb in r["weight_gb"].items()))
    if r["experts_read"]:
        lines.append("expected distinct experts read per MoE layer at batch B: "
                     + ", ".join(f"B={b}: {v:.1f}" for b, v in r["experts_read"].items()))
    if r["unknown_fields"]:
        lines.append("fields not understood (not used in any count): " + ", ".join(r["unknown_fields"]))
    return "\n".join(lines)


def pasted_report(pasted_config: str, context: int = 4096) -> dict:
    """The report of a pasted config.json; ConfigError naming what cannot be read."""
    try:
        data = json.loads(pasted_config)
    except json.JSONDecodeError as e:
        raise ConfigError(f"the pasted config is not valid JSON: {e}") from None
    return scale_report("pasted config", parse_config(data), {}, context)


def compare_scale(preset_names: list[str], pasted_config: str = "", context: int = 4096) -> list[dict]:
    """Reports for the chosen presets plus an optional pasted config.json; ConfigError on bad input."""
    if isinstance(context, bool) or not isinstance(context, (int, float)) or not 1 <= context <= 10_000_000:
        raise ConfigError(f"context length must be between 1 and 10,000,000 tokens, got {context!r}")
    reports = []
    for name in preset_names or []:
        preset = load_preset(name)
        reports.append(scale_report(preset.label, preset.spec, preset.published, int(context)))
    if pasted_config and pasted_config.strip():
        reports.append(pasted_report(pasted_config, int(context)))
    if not reports:
        raise ConfigError("choose at least one model or paste a config.json")
    return reports
