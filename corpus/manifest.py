"""What the corpus holds, read from assets/eval/manifest.json (written by `python -m corpus.build`): the
domains with their sources and sizes, and the characters that ever occur in the training split, so that
the page can say which characters of a user's text the models never saw."""
from __future__ import annotations

import functools
import json

from paths import EVAL_DIR

MANIFEST = EVAL_DIR / "manifest.json"


@functools.lru_cache(maxsize=1)
def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def unseen_characters(text: str) -> list[str]:
    """The distinct characters of `text` that never occur in the training split, in order of appearance."""
    seen = set(manifest().get("train_characters", ""))
    return list(dict.fromkeys(ch for ch in text if ch not in seen and not ch.isspace()))
