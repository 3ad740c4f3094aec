"""A routing rule in words, and one MoE layer's computation for a pinned token step by step (backend/layer_steps),
as markdown in the reader's language. Every number comes from the steps; nothing here computes a model."""
from __future__ import annotations

import pandas as pd

from text import tr
from viz.tables import markdown_table

MAX_ROWS = 16  # experts listed in the step table (the best by selection; the chosen always among them)


def rule_words(rule: dict, n_experts: int, top_k: int, gate_input: bool = False, shared: bool = False) -> str:
    """The rule as a sentence: scores, selection, gates (routing/rules.RoutingRule's fields)."""
    parts = [tr("a softmax over the {n} experts' logits", n=n_experts) if rule["score"] == "softmax"
             else tr("a sigmoid score per expert (the {n} scores do not sum to 1)", n=n_experts)]
    if rule["choice_bias"]:
        parts.append(tr("a per-expert bias added to the scores only to choose (balancing without an auxiliary loss)"))
    if rule["groups"] > 1:
        ranked = tr("its best score") if rule["group_score"] == "max" else tr("the sum of its best two scores")
        parts.append(tr("only the {kept} best of {groups} groups of {size} experts are eligible (a group ranked by {ranked})",
                        kept=rule["groups_kept"], groups=rule["groups"], size=n_experts // rule["groups"], ranked=ranked))
    parts.append(tr("the top-{k} are chosen", k=top_k))
    norm = rule["norm_p"]
    gates = (tr("gates are the chosen scores as they are") if norm is None
             else tr("gates are the chosen scores renormalised to sum 1") if norm == 1
             else tr("gates are the chosen scores divided by their {p:g}-norm", p=norm))
    if rule["scale"] != 1:
        gates += tr(", times {scale:g}", scale=rule["scale"])
    parts.append(gates)
    if gate_input:
        parts.append(tr("each gate scales its expert's input, not its output"))
    if shared:
        parts.append(tr("a shared expert runs on every token"))
    return "; ".join(parts) + "."


def steps_table(steps) -> pd.DataFrame:
    """One row per expert (the best MAX_ROWS by selection score when there are more): logit, noise (with router
    noise), score, selection score (with a selection bias), eligibility (under a group-limited rule), choice, gate."""
    rows = sorted(steps.experts, key=lambda s: (s.rank is None, -s.selection))[:MAX_ROWS]
    noisy, biased, grouped = (any(s.noise for s in steps.experts), steps.rule["choice_bias"], steps.rule["groups"] > 1)
    table = pd.DataFrame([{
        tr("expert"): s.expert, tr("logit"): round(s.logit, 4), tr("noise"): round(s.noise, 4), tr("score"): round(s.score, 4),
        tr("score + selection bias"): round(s.selection, 4), tr("in a kept group"): tr("yes") if s.eligible else tr("no"),
        tr("choice"): "" if s.rank is None else tr("#{rank}", rank=s.rank + 1),
        tr("gate"): "" if s.gate is None else round(s.gate, 4)} for s in rows])
    absent = [name for name, shown in (("noise", noisy), ("score + selection bias", biased), ("in a kept group", grouped))
              if not shown]
    return table.drop(columns=[tr(name) for name in absent])


def steps_markdown(steps) -> str:
    """The rule in words, then each step with its numbers, then the per-expert table."""
    rule, n = steps.rule, len(steps.experts)
    chosen = ", ".join(tr("expert {e}", e=c.expert) for c in steps.contributions)
    scores = [s.score for s in steps.experts]
    total = sum(scores)
    lines = [tr("**Layer {layer}, token {position} '{token}'** ({model}). The rule: {rule}", layer=steps.layer,
                position=steps.position, token=steps.token, model=steps.model,
                rule=rule_words(rule, n, steps.top_k, steps.gate_input, steps.shared_norm is not None)),
             tr("1. **Logits**: the router reads the token's normalised hidden state (|x| = {norm:.2f}) and gives each of the "
                "{n} experts a logit ({low:.3f} to {high:.3f}){noise}.", norm=steps.input_norm, n=n,
                low=min(s.logit for s in steps.experts), high=max(s.logit for s in steps.experts),
                noise=tr(", router noise included (up to {noise:.3f})", noise=max(abs(s.noise) for s in steps.experts))
                if any(s.noise for s in steps.experts) else ""),
             tr("2. **Scores**: {kind}; here they sum to {total:.3f}.", total=total,
                kind=tr("softmax probabilities") if rule["score"] == "softmax" else tr("sigmoid scores, each in (0, 1)")),
             tr("3. **Selection**: {how}: {chosen}.", chosen=chosen,
                how=tr("the top-{k} of the scores plus the selection bias{groups}", k=steps.top_k,
                       groups=tr(", within the {kept} kept groups", kept=len({s.expert * rule["groups"] // n
                                                                             for s in steps.experts if s.eligible}))
                       if rule["groups"] > 1 else "")),
             tr("4. **Gates**: the chosen scores {raw} become {gates}.", raw=", ".join(f"{g:.4f}" for g in steps.raw_gates),
                gates=", ".join(f"{c.gate:.4f}" for c in steps.contributions)),
             tr("5. **Experts**: ") + "; ".join(tr("expert {e}: gate {gate:.4f}, |contribution| {norm:.3f}", e=c.expert,
                                                   gate=c.gate, norm=c.norm) for c in steps.contributions)
             + (tr("; the shared expert: |contribution| {norm:.3f}", norm=steps.shared_norm) if steps.shared_norm is not None else "")
             + ".",
             tr("6. **Sum**: the layer's output (|output| = {norm:.3f}) is added to the residual stream.", norm=steps.output_norm)]
    caption = tr("Every expert of layer {layer} for this token", layer=steps.layer) if n <= MAX_ROWS else \
        tr("The {rows} best of {n} experts of layer {layer} for this token, by selection score", rows=MAX_ROWS, n=n, layer=steps.layer)
    return "\n\n".join(lines) + "\n\n" + markdown_table(steps_table(steps), caption)


def routing_cards_markdown(cards: list[dict]) -> str:
    """The model card's section on loaded real MoEs: each one's family, sizes and routing rule in words."""
    if not cards:
        return ""
    lines = [tr("**Loaded real models** (`--model`), each routed by this project with its own family's rule:")]
    lines += [tr("- **{name}** ({family}, e.g. {example}): {experts} experts, top-{k}, {moe} MoE layers of {layers}. Rule: {rule}",
                 name=c["name"], family=c["family"], example=c["example"], experts=c["n_experts"], k=c["top_k"],
                 moe=c["moe_layers"], layers=c["layers"],
                 rule=rule_words(c["rule"], c["n_experts"], c["top_k"], c["gate_input"], c["shared"])) for c in cards]
    return "\n".join(lines)
