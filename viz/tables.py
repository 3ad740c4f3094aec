"""A pandas table as a markdown table: the browser lays it out to the page's width and wraps cells at word
boundaries, where a data grid with fixed column widths ran off the screen (long text columns, many columns)."""
from __future__ import annotations

import statistics

import pandas as pd


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, caption: str = "") -> str:
    """frame's header and rows as a markdown table, under `caption` (bold) when one is given."""
    header = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return (f"**{caption}**\n\n" if caption else "") + "\n".join([header, rule, *rows])


def over_seeds(by_seed: dict[int, float]) -> str:
    """A member's held-out loss over seeds as '3.492 ± 0.010 (2)' (sample std), '' for one seed or none."""
    if len(by_seed) < 2:
        return ""
    values = list(by_seed.values())
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f} ({len(values)})"
