"""The models' continuations of a text, side by side: HTML, the MoE's tokens coloured by expert."""
from __future__ import annotations

import html

from backend.generation import GenerationReport
from text import tr
from viz.palette import expert_colour, text_colour


def continuations_html(report: GenerationReport, layer: int) -> str:
    """One block per model: its speed, then its generated tokens (the MoE's coloured by their first-choice
    expert in `layer`; hover names the expert)."""
    how = tr("greedy") if report.temperature == 0 else tr("sampled: temperature {t:g}, top-p {p:g}, seed {seed}",
                                                           t=report.temperature, p=report.top_p, seed=report.seed)
    cut = tr(" (its first tokens left out to fit the context)") if report.prompt_cut else ""
    blocks = ['<div class="strip-legend">' + tr("{new} new tokens after a prompt of {prompt} tokens{cut}; {how}.",
                                                new=report.max_new_tokens, prompt=report.prompt_tokens, cut=cut, how=how)
              + "</div>"]
    for c in report.continuations:
        spans = []
        shown = min(layer, len(c.experts) - 1) if c.experts is not None else None
        for i, label in enumerate(c.tokens):
            if shown is not None:
                expert = c.experts[shown][i]
                bg = expert_colour(expert)
                spans.append(f'<span class="tok" style="background:{bg};color:{text_colour(bg)}" '
                             f'title="{tr("expert {e} (layer {layer})", e=expert, layer=shown)}">{html.escape(label)}</span>')
            else:
                spans.append(f'<span class="tok" style="background:#e8e8e8;color:#000">{html.escape(label)}</span>')
            if label.endswith("↵"):
                spans.append("<br>")
        kind = "MoE" if c.is_moe else tr("dense")
        blocks.append(f"<p><b>{html.escape(c.model)}</b> ({kind}): "
                      + tr("{n} tokens in {s:.2f} s = <b>{speed:.0f} tokens/s</b>", n=len(c.token_ids), s=c.seconds,
                           speed=c.tokens_per_s) + f"</p><div class=\"token-strip\">{''.join(spans)}</div>")
    return "\n".join(blocks)
