"""`python -m scale <config.json or preset> [--json]`: total/active parameters per component, FLOPs per
token, memory, experts read vs batch."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from scale.architectures import ConfigError, parse_config
from scale.presets import load_preset, preset_names
from scale.report import scale_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scale", description="Total/active parameters, FLOPs and memory of a model.")
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
