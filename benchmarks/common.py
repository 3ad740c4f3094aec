"""What several benchmarks share: the text they time, the repeat loop, a process's memory, and how a run's results
are written."""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from models.zoo import shared_tokenizer
from paths import EXAMPLES_DIR, RESULTS


def examples_text(tokens: int, names: Sequence[str] | None = None, separator: str = "") -> str:
    """The shipped examples (assets/examples/: every one in name order, or `names`), joined by `separator` and repeated,
    cut to `tokens` tokens of the project's tokenizer."""
    files = sorted(EXAMPLES_DIR.glob("*.txt")) if names is None else [EXAMPLES_DIR / f"{name}.txt" for name in names]
    source = separator.join(path.read_text(encoding="utf-8") for path in files) * 20
    tokenizer = shared_tokenizer()
    return tokenizer.decode(tokenizer.encode(source).ids[:tokens])


def seconds(call: Callable[[], object], runs: int, warmup: bool = True) -> list[float]:
    """Wall seconds of `runs` calls, after one untimed call unless warmup is False."""
    if warmup:
        call()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def memory_gib(pid: int) -> dict[str, float]:
    """A process's resident memory now (VmRSS) and at its peak (VmHWM), GiB (nan where its status lacks one)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {label: int(fields[key].split()[0]) / 2**20 if key in fields else math.nan
            for label, key in (("resident_gib", "VmRSS"), ("peak_gib", "VmHWM"))}


def write_results(name: str, result: dict, report: str) -> None:
    """benchmarks/results/<name>.json (the run's data) and <name>.md (its report), and the report on stdout."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(report + "\n")
    print(report)
