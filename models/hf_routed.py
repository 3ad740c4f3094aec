"""Hugging Face checkpoints with this project's routing inside: the same views for real models as for the zoo.

A causal LM loaded by transformers (backend/real_models.py: config, safetensors weights, tokenizer, no
loader of our own) gets, for an MoE family, each sparse MoE block replaced by a `RoutedBlock`
(`route_moe_blocks`), which runs
this project's router (routing/), capacity limit and dispatch backends (models/experts.py) on the
checkpoint's own weights (views, nothing copied). The result, `HFModel`, has the zoo Transformer's
interface: `model(ids, routing=RoutingOptions(...), trace=True, cache=...)` -> ModelOutput with the routing
traces, `new_cache`, `moe_layers`, `cfg` (the shape the backend reads) and `arch` (parameter accounting,
from the real-model calculator's parse of the same config).

Per-call routing options reach the blocks inside transformers' forward through a context variable set for
the duration of one call: each request (thread) sees only its own settings, and nothing on the shared
model changes. At the checkpoint's own settings the logits equal transformers' own forward
(tests/test_hf_routed.py, every family: float32 to 1e-5; bfloat16 to one bf16 rounding step, 1.6e-2).

Family conventions kept (softmax over all experts in float32, then top-K):
- mixtral:     gates renormalised over the K chosen experts;
- qwen2_moe:   renormalised only when `norm_topk_prob`; plus the shared expert with its sigmoid gate;
- qwen3_moe, olmoe: renormalised only when `norm_topk_prob`;
- granitemoe:  softmax over the K chosen logits, which is the renormalised top-K probability.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass

import torch
from torch import nn
from transformers import DynamicCache

from models.experts import run_experts
from models.moe import MoEAux, MoELayer
from models.params import ArchSpec, FFNSpec, LayerSpec
from models.transformer import DEFAULT_ROUTING, ModelOutput, prepare_call
from routing.options import RoutingOptions
from routing.routers import SoftmaxTopKRouter


@dataclass(frozen=True)
class Family:
    block: str  # the decoder layer's attribute holding the sparse MoE block
    router: str  # the block's attribute holding the router (weight (E, D))
    normalize: str | None  # config field saying whether top-K gates are renormalised; None = always
    shared_expert: bool = False


MOE_FAMILIES = {
    "mixtral": Family("mlp", "gate", None),
    "qwen2_moe": Family("mlp", "gate", "norm_topk_prob", shared_expert=True),
    "qwen3_moe": Family("mlp", "gate", "norm_topk_prob"),
    "olmoe": Family("mlp", "gate", "norm_topk_prob"),
    "granitemoe": Family("block_sparse_moe", "router", None),
}


@dataclass(frozen=True)
class HFShape:
    """What the backend reads of a model (the zoo's ModelConfig has the same fields)."""
    family: str
    vocab_size: int
    n_layers: int  # MoE layers of an MoE (the layers ablation and forcing address), decoder layers of a dense model
    context_length: int
    n_experts: int = 1
    top_k: int = 1

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1


_CALL: contextvars.ContextVar["_Call"] = contextvars.ContextVar("routing_call")


@dataclass
class _Call:
    routing: RoutingOptions
    generator: torch.Generator | None
    trace: bool
    auxes: list[MoEAux]


class ExpertViews(nn.Module):
    """A transformers experts module (gate_up_proj (E, 2F, D), down_proj (E, D, F)) seen as this project's
    (E, F, D) gate and up and (E, D, F) down matrices: views, nothing copied."""

    def __init__(self, experts: nn.Module):
        super().__init__()
        self.hf = experts
        self.n_experts, two_f, _ = experts.gate_up_proj.shape
        self.width = two_f // 2

    def forward(self, x, expert_idx, gate_weights, dropped, backend) -> torch.Tensor:
        gate_up = self.hf.gate_up_proj
        return run_experts(x, gate_up[:, : self.width], gate_up[:, self.width :], self.hf.down_proj, expert_idx,
                           gate_weights, dropped, backend)


class RoutedBlock(nn.Module):
    """Stands in for a transformers sparse MoE block: this project's MoELayer on the block's own weights,
    plus the family's shared expert when it has one. Reads the call's routing options from the context."""

    def __init__(self, block: nn.Module, family: Family, layer: int, top_k: int, normalize: bool):
        super().__init__()
        hf_router = getattr(block, family.router)
        n_experts, d_model = hf_router.weight.shape
        router = SoftmaxTopKRouter(d_model, n_experts, normalize)
        router.gate.weight = hf_router.weight  # the checkpoint's parameter itself
        self.moe = MoELayer(layer, router, ExpertViews(block.experts), top_k, None)
        self.shared = getattr(block, "shared_expert", None) if family.shared_expert else None
        self.shared_gate = getattr(block, "shared_expert_gate", None) if family.shared_expert else None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        call = _CALL.get(None) or _Call(DEFAULT_ROUTING, None, False, [])
        out, aux = self.moe(hidden_states, call.routing, call.generator, call.trace)
        call.auxes.append(aux)
        if self.shared is not None:
            out = out + torch.sigmoid(self.shared_gate(hidden_states)) * self.shared(hidden_states)
        return out


class HFCache:
    """transformers' DynamicCache with the zoo KVCache's `length` (settable: lowering it drops the newest
    positions, as the timing harness does to decode the same positions again) and `max_len`."""

    def __init__(self, config, max_len: int):
        self.kv = DynamicCache(config=config)
        self.max_len = max_len

    @property
    def length(self) -> int:
        return self.kv.get_seq_length()

    @length.setter
    def length(self, value: int) -> None:
        if self.length > value:
            self.kv.crop(value - self.length)


class HFModel(nn.Module):
    """A loaded transformers causal LM behind the zoo Transformer's interface."""

    def __init__(self, hf: nn.Module, cfg: HFShape, arch: ArchSpec, blocks: list[RoutedBlock]):
        super().__init__()
        self.hf, self.cfg, self.arch = hf, cfg, arch
        self.blocks = nn.ModuleList(blocks)

    def new_cache(self, batch: int, max_len: int | None = None) -> HFCache:
        return HFCache(self.hf.config, max_len or self.cfg.context_length)

    def moe_layers(self) -> list[MoELayer]:
        return [b.moe for b in self.blocks]

    def forward(self, idx: torch.Tensor, routing: RoutingOptions = DEFAULT_ROUTING, trace: bool = False,
                cache: HFCache | None = None) -> ModelOutput:
        """idx (B, T) token ids -> ModelOutput (logits (B, T, V) and one MoEAux per MoE layer)."""
        _, generator = prepare_call(self.cfg, idx, routing, cache)
        call = _Call(routing, generator, trace, [])
        token = _CALL.set(call)
        try:
            out = self.hf(input_ids=idx, cache=cache.kv if cache is not None else None, use_cache=cache is not None)
        finally:
            _CALL.reset(token)
        return ModelOutput(out.logits, tuple(call.auxes))


def module_arch(hf: nn.Module, config: dict) -> ArchSpec:
    """A dense model the calculator does not parse, counted from its modules: embedding, head, norms and
    the rest of each decoder layer (as attention + dense FFN by parameter name)."""
    embed = hf.get_input_embeddings().weight
    head = hf.get_output_embeddings()
    tied = head is None or head.weight is embed
    layers = []
    for layer in hf.model.layers:
        named = dict(layer.named_parameters())
        norms = sum(p.numel() for n, p in named.items() if "norm" in n)
        ffn = sum(p.numel() for n, p in named.items() if "mlp" in n and "norm" not in n)
        attention = sum(p.numel() for p in named.values()) - norms - ffn
        width = config.get("hidden_size", embed.shape[1])
        layers.append(LayerSpec(attention, norms, FFNSpec(dense=ffn), width, width))
    final = sum(p.numel() for n, p in hf.model.named_parameters() if n.startswith("norm"))
    return ArchSpec(config.get("model_type", "unknown"), embed.shape[0], embed.shape[1], tuple(layers), tied, final)


def route_moe_blocks(hf: nn.Module, config: dict) -> list[RoutedBlock]:
    """Replace every sparse MoE block of an MoE family by a RoutedBlock; -> the blocks, in layer order."""
    family = MOE_FAMILIES[config["model_type"]]
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"experts with activation {config['hidden_act']!r} are not supported (SwiGLU/silu only)")
    top_k = int(config["num_experts_per_tok"])
    normalize = True if family.normalize is None else bool(config.get(family.normalize, False))
    blocks = []
    for layer in hf.model.layers:
        block = getattr(layer, family.block, None)
        experts = getattr(block, "experts", None)
        if experts is None or not hasattr(experts, "gate_up_proj"):
            continue  # a dense layer of an MoE model (Qwen's mlp_only_layers / decoder_sparse_step)
        e, two_f, d = experts.gate_up_proj.shape
        if experts.down_proj.shape != (e, d, two_f // 2) or getattr(block, family.router).weight.shape != (e, d):
            raise ValueError(f"{config['model_type']}: expert weights of an unexpected layout")
        routed = RoutedBlock(block, family, len(blocks), top_k, normalize)
        setattr(layer, family.block, routed)
        blocks.append(routed)
    if not blocks:
        raise ValueError(f"{config['model_type']}: no sparse MoE block found in the decoder layers")
    return blocks
