"""Every file and directory the project reads or writes, in one place.

The zoo directory honours MOE_ZOO_DIR, read when asked (`zoo_dir()`), so every caller (the page, the
Scale tab's zoo presets, the benchmarks, the trainer) sees the same directory. Nothing here reads files.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"
DEFAULT_ZOO_DIR = ASSETS / "models"
TOKENIZER = ASSETS / "tokenizer.json"
EVAL_DIR = ASSETS / "eval"  # held-out split (committed)
EXAMPLES_DIR = ASSETS / "examples"
LIVE_SAMPLE = ASSETS / "live_sample.txt"
BALANCING_RUNS = ASSETS / "balancing"
REFERENCE_CONFIGS = ASSETS / "reference_configs"
TRAIN_DIR = ROOT / "data/corpus/train"  # training split (rebuilt by `python -m corpus.build`, not committed)
RESULTS = ROOT / "benchmarks/results"
SEED_SPREAD_FULL = RESULTS / "zoo_seed_spread_full.json"  # full-scale seed runs: {"losses": {member: {seed: loss}}}


def zoo_dir() -> Path:
    """The directory of zoo checkpoints: MOE_ZOO_DIR when set, else assets/models."""
    return Path(os.environ.get("MOE_ZOO_DIR") or DEFAULT_ZOO_DIR)
