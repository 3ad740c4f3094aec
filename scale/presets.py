"""Named architectures for the scale calculator: reference configs of real models (with the figures
their authors published), models whose architecture was never published, and this project's zoo.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from models.params import ArchSpec
from paths import REFERENCE_CONFIGS as REFERENCE_DIR, zoo_dir
from scale.architectures import ConfigError, parse_config

PUBLISHED = json.loads((REFERENCE_DIR / "published.json").read_text())
ZOO_PREFIX = "zoo:"


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    spec: ArchSpec | None  # None: the architecture was never published
    published: dict  # the authors' figures ("46.7B"), convention and source; {} when none


def parse_size(text: str) -> tuple[float, float]:
    """'46.7B' -> (46.7e9, half a unit of the last digit: 0.05e9)."""
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?([BM])", text)
    if not match:
        raise ValueError(f"cannot read size {text!r}")
    unit = {"B": 1e9, "M": 1e6}[match[3]]
    decimals = len(match[2] or "")
    return float(f"{match[1]}.{match[2] or 0}") * unit, 0.5 * unit / 10**decimals


def preset_names() -> list[str]:
    zoo = sorted(p.parent.name for p in zoo_dir().glob("*/config.json"))
    return list(PUBLISHED) + [ZOO_PREFIX + z for z in zoo]


def load_preset(name: str) -> Preset:
    if name.startswith(ZOO_PREFIX):
        path = zoo_dir() / name[len(ZOO_PREFIX) :] / "config.json"
        if name not in preset_names():
            raise ConfigError(f"unknown preset '{name}'; known: {', '.join(preset_names())}")
        return Preset(name, f"{name[len(ZOO_PREFIX):]} (this project)", parse_config(json.loads(path.read_text())), {})
    if name not in PUBLISHED:
        raise ConfigError(f"unknown preset '{name}'; known: {', '.join(preset_names())}")
    info = PUBLISHED[name]
    if info.get("unpublished"):
        return Preset(name, info["label"], None, info)
    return Preset(name, info["label"], parse_config(json.loads((REFERENCE_DIR / f"{name}.json").read_text())), info)
