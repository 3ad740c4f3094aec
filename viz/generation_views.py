"""The models' continuations of a text, side by side: HTML, the MoE's tokens coloured by expert."""
from __future__ import annotations

import html

from backend.generation import GenerationReport
from viz.palette import expert_colour, text_colour


def continuations_html(report: GenerationReport, layer: int) -> str:
    """One block per model: its speed, then its generated tokens (the MoE's coloured by their first-choice
    expert in `layer`; hover names the expert)."""
    how = "greedy" if report.temperature == 0 else f"sampled: temperature {report.temperature:g}, top-p {report.top_p:g}, seed {report.seed}"
    cut = " (its first tokens left out to fit the context)" if report.prompt_cut else ""
    blocks = [f'<div class="strip-legend">{report.max_new_tokens} new tokens after a prompt of {report.prompt_tokens} '
              f"tokens{cut}; {how}.</div>"]
    for c in report.continuations:
        spans = []
        shown = min(layer, len(c.experts) - 1) if c.experts is not None else None
        for i, label in enumerate(c.tokens):
            if shown is not None:
                expert = c.experts[shown][i]
                bg = expert_colour(expert)
                spans.append(f'<span class="tok" style="background:{bg};color:{text_colour(bg)}" '
                             f'title="expert {expert} (layer {shown})">{html.escape(label)}</span>')
            else:
                spans.append(f'<span class="tok" style="background:#e8e8e8;color:#000">{html.escape(label)}</span>')
            if label.endswith("↵"):
                spans.append("<br>")
        kind = "MoE" if c.is_moe else "dense"
        blocks.append(f"<p><b>{html.escape(c.model)}</b> ({kind}): {len(c.token_ids)} tokens in {c.seconds:.2f} s = "
                      f"<b>{c.tokens_per_s:.0f} tokens/s</b></p><div class=\"token-strip\">{''.join(spans)}</div>")
    return "\n".join(blocks)
