"""The user's text on experts spread over devices: a zoo MoE reads it once, one layer's routing is split over
2 ranks (the first half of the tokens on rank 0, the rest on rank 1) and timed as routed and with each fix
(a placement balanced by this load, the hottest expert copied, capacity factors), by lab/expert_parallel.py.
What the Problems tab and its API call; never imports the page."""
from __future__ import annotations

import torch

from backend.analysis import InputError, tokenize
from errors import UserError, int_in_range
from lab.expert_parallel import Job, measure, realistic_scale, with_fixes, zoo_routing
from lab.variants import LabScale
from models.zoo import load_member
from text import tr

MEMBERS = ("moe-4", "moe-8", "moe-16", "moe-32")
WIDTHS = ("zoo", "realistic")  # the member's own weights, or the Latency lab's width (D 4096) with random weights
RANKS, MIN_TOKENS, REPEATS = 2, 4, 5
PAGE_CAPACITIES = (1.0, 1.25)


def check_request(member: object, layer: object, width: object) -> tuple[str, int, str]:
    """The settings a request may send, checked: UserError naming the bad one."""
    if member not in MEMBERS:
        raise UserError(tr("model must be one of {choices}, got {value!r}", choices=", ".join(MEMBERS), value=member))
    if width not in WIDTHS:
        raise UserError(tr("width must be one of {choices}, got {value!r}", choices=", ".join(WIDTHS), value=width))
    n_layers = load_member(member).model.cfg.n_layers
    return member, int_in_range("layer", layer, 0, n_layers - 1), width


@torch.no_grad()
def measure_text(text: str, member: object, layer: object, width: object, repeats: int = REPEATS) -> dict:
    """-> the measurement report of lab/expert_parallel.measure for this text, plus what was asked."""
    member, layer, width = check_request(member, layer, width)
    loaded = load_member(member)
    ids = tokenize(text, loaded)[0]
    if len(ids) < MIN_TOKENS:
        raise InputError(tr("The text has {n} token(s); spreading it over {ranks} ranks needs at least {min}.",
                            n=len(ids), ranks=RANKS, min=MIN_TOKENS))
    cfg = loaded.model.cfg
    x, idx, gates = zoo_routing(loaded.model, [torch.tensor(ids)], layer)
    if width == "zoo":
        scale, weights = LabScale(cfg.d_model, cfg.d_ff, cfg.n_experts, cfg.top_k), {"zoo": member, "layer": layer}
    else:  # the routing is the member's; the inputs' values do not change the timing
        scale, weights = realistic_scale(cfg.n_experts, cfg.top_k, cfg.d_ff), {"seed": 0}
        x = torch.randn(len(ids), scale.d_model, generator=torch.Generator().manual_seed(0))
    scenarios = with_fixes("your text", idx, gates, cfg.n_experts, RANKS, PAGE_CAPACITIES)
    report = measure(Job(scale, weights, x, scenarios, RANKS, repeats, warmup=1))[0]
    return report | {"member": member, "layer": layer, "width": width}
