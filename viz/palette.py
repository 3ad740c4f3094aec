"""Expert colours: 16 distinguishable hues, then the same hues lighter, darker and lighter still (so up
to 64 experts get colours of their own), with readable text on each; the expert colour bar."""
from text import tr

EXPERT_COLOURS = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#d62728",
)
MODEL_COLOURS = {"dense": "#7f7f7f", "moe": "#f28e2b", "dense-wide": "#4e79a7"}
TWIN_COLOUR = "#59a14f"  # a loaded real dense twin
MOE_MEMBER_COLOURS = {"moe-4": "#edc948", "moe-8": "#f28e2b", "moe-16": "#e15759", "moe-32": "#b07aa1"}


SHADES = ((1.0, 255), (0.6, 255), (0.6, 0), (0.35, 255))  # (weight of the hue, mixed with white 255 / black 0)


def expert_colour(expert: int) -> str:
    base = EXPERT_COLOURS[expert % len(EXPERT_COLOURS)]
    weight, mix = SHADES[(expert // len(EXPERT_COLOURS)) % len(SHADES)]
    channels = (int(base[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(weight * c + (1 - weight) * mix):02x}" for c in channels)


def expert_colorbar(n_experts: int) -> dict:
    """A plotly colour bar for experts 0..n-1: at most 16 labelled ticks."""
    step = -(-n_experts // 16)
    return dict(title=tr("expert"), tickvals=list(range(0, n_experts, step)))


def model_colour(name: str, moe: bool = False) -> str:
    """The zoo's models by name; any MoE (moe=True, or a zoo name moe-*) in the MoE colour; another dense
    model (a loaded twin) in the twin colour."""
    if moe or name.startswith("moe"):
        return MODEL_COLOURS["moe"]
    return MODEL_COLOURS.get(name, TWIN_COLOUR)


def member_colour(name: str) -> str:
    """A colour per zoo member, so that the MoEs tell apart on one chart (others as model_colour)."""
    return MOE_MEMBER_COLOURS.get(name) or model_colour(name)


def text_colour(background: str) -> str:
    r, g, b = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"
