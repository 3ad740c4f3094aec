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
(tests/test_hf_routed.py, every family: float32 to 1e-5, prefill and cached decoding; in bfloat16 ours is as close to
the float32 logits as transformers' own bf16 forward).

Every family's routing rule (softmax or sigmoid scores, selection bias, group-limited selection, renormalisation,
scaling), where it keeps its router, experts and shared expert, and which of its layers are dense are data in
one registry, models/hf_families.py; the rule runs in routing/rules.RuleRouter.
"""
from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import functools
import threading

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache
from transformers.cache_utils import LinearAttentionCacheLayerMixin

from models.experts import clamped_swiglu, run_experts, sorted_apply, swiglu
from models.hf_families import FAMILIES, Family, read, resolve_rule
from models.moe import MoEAux, MoELayer
from models.params import ArchSpec, FFNSpec, LayerSpec
from models.transformer import DEFAULT_ROUTING, ModelOutput, prepare_call
from routing.options import RoutingOptions
from routing.rules import RoutingRule, RuleRouter


@dataclasses.dataclass(frozen=True)
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


@dataclasses.dataclass
class _Call:
    routing: RoutingOptions
    generator: torch.Generator | None
    trace: bool
    auxes: list[MoEAux]


def module_at(root: nn.Module, path: str | None):
    """The attribute at a dotted path (None for no path or a missing attribute)."""
    value = root
    for part in (path.split(".") if path else ()):
        value = getattr(value, part, None)
    return value if path else None


class ExpertViews(nn.Module):
    """A transformers experts module seen as this project's (E, F, D) gate and up and (E, D, F) down matrices:
    views, nothing copied. Layouts: fused (gate_up_proj (E, 2F, D), down_proj (E, D, F)); flat (DBRX: w1, v1, w2
    (E*F, D), down used transposed); gpt_oss (gate_up_proj (E, D, 2F) with gate and up interleaved, down_proj
    (E, F, D), a bias on each, and the clamped SwiGLU); llama4 (gate_up_proj (E, D, 2F), down_proj (E, F, D), the
gate applied to the expert's input). Plain SwiGLU experts run through the dispatch backends of
    models/experts.py; the others through its sorted dispatch of any expert function."""

    def __init__(self, experts: nn.Module, layout: str, n_experts: int, config):
        super().__init__()
        self.hf, self.layout, self.n_experts = experts, layout, n_experts
        self.activation = (float(config.swiglu_alpha), float(config.swiglu_limit)) if layout == "gpt_oss" else None
        self.gate_input = layout == "llama4"

    def weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hf = self.hf
        if self.layout == "flat":
            e, (rows, d) = self.n_experts, hf.w1.shape
            w1, v1, w2 = (w.view(e, rows // e, d) for w in (hf.w1, hf.v1, hf.w2))
            return w1, v1, w2.transpose(1, 2)
        if self.layout == "gpt_oss":
            return hf.gate_up_proj[..., ::2].transpose(1, 2), hf.gate_up_proj[..., 1::2].transpose(1, 2), hf.down_proj.transpose(1, 2)
        if self.layout == "llama4":
            width = hf.gate_up_proj.shape[2] // 2
            gate_up = hf.gate_up_proj.transpose(1, 2)  # (E, 2F, D)
            return gate_up[:, :width], gate_up[:, width:], hf.down_proj.transpose(1, 2)
        gate_up, width = hf.gate_up_proj, hf.gate_up_proj.shape[1] // 2
        return gate_up[:, :width], gate_up[:, width:], hf.down_proj

    def forward(self, x, expert_idx, gate_weights, dropped, backend) -> torch.Tensor:
        if self.gate_input:  # the gate scales the expert's input: a SwiGLU is not linear, so this differs from weighting its output
            weights = self.weights()
            return sorted_apply(x, expert_idx, gate_weights, dropped, self.n_experts,
                                lambda rows, e: swiglu(rows, *(w[e] for w in weights)), gate_input=True)
        if self.activation is None:
            return run_experts(x, *self.weights(), expert_idx, gate_weights, dropped, backend)
        w_gate, w_up, w_down = self.weights()
        bias, alpha, limit = self.hf.gate_up_proj_bias, *self.activation

        def expert(rows: torch.Tensor, e: int) -> torch.Tensor:  # (M, D) -> (M, D)
            hidden = clamped_swiglu(F.linear(rows, w_gate[e], bias[e, ::2]), F.linear(rows, w_up[e], bias[e, 1::2]), alpha, limit)
            return F.linear(hidden, w_down[e], self.hf.down_proj_bias[e])
        return sorted_apply(x, expert_idx, gate_weights, dropped, self.n_experts, expert)


def is_sparse(block: nn.Module | None, family: Family) -> bool:
    """Whether a decoder layer's block is the family's MoE block (a dense layer holds a dense MLP there)."""
    experts = module_at(block, family.experts) if block is not None else None
    return experts is not None and hasattr(experts, "w1" if family.expert_layout == "flat" else "gate_up_proj")


def offloads(module: nn.Module) -> bool:
    """Whether accelerate keeps this module's own weights off its execution device (on the CPU or the disk) and
    brings them in only around its forward: its `_hf_hook` (an AlignDevicesHook, or several) offloads."""
    hook = getattr(module, "_hf_hook", None)
    return any(getattr(h, "offload", False) for h in getattr(hook, "hooks", (hook,)))


@contextlib.contextmanager
def materialised(modules: list[nn.Module]):
    """Inside: the offloaded modules' weights are on their execution device, as they are during the modules' own
    forward (accelerate's hook brings them in, then sends them back to the meta device)."""
    for module in modules:
        module._hf_hook.pre_forward(module)
    try:
        yield
    finally:
        for module in modules:
            module._hf_hook.post_forward(module, None)


class RoutedBlock(nn.Module):
    """Stands in for a transformers sparse MoE block: this project's MoELayer with the family's rule on the
    block's own weights, plus the family's shared expert (and its gate) when it has one. Reads the call's
    routing options from the context. Where accelerate offloads the block's router or experts (device_map with
    "cpu" or "disk"), their weights are brought in for each call (`weights_ready`)."""

    def __init__(self, block: nn.Module, family: Family, rule: RoutingRule, layer: int, top_k: int, config):
        super().__init__()
        self.hf_router = module_at(block, family.router)
        n_experts, d_model = self.hf_router.weight.shape
        router = RuleRouter(d_model, n_experts, rule, getattr(self.hf_router, "bias", None) is not None, family.logits_in_float32)
        self.hf_block, self.choice_bias_path = block, family.rule.choice_bias if rule.choice_bias else None
        self.rule, self.family = rule, family.model_type
        experts = ExpertViews(module_at(block, family.experts), family.expert_layout, n_experts, config)
        self.moe = MoELayer(layer, router, experts, top_k, None)
        self.returns_scores = family.returns_scores
        self.shared = module_at(block, family.shared)
        self.shared_gate = module_at(block, family.shared_gate)
        self.offloaded = [m for m in dict.fromkeys((block, *self.hf_router.modules(), *experts.hf.modules())) if offloads(m)]
        self.bind()

    def bind(self) -> None:
        """Point the router at the checkpoint's tensors themselves (nothing copied): its gate weight (and bias) and
        the selection bias."""
        router = self.moe.router
        router.gate.weight = self.hf_router.weight
        if router.gate.bias is not None:
            router.gate.bias = self.hf_router.bias
        if self.choice_bias_path:
            router.choice_bias = module_at(self.hf_block, self.choice_bias_path)

    @contextlib.contextmanager
    def weights_ready(self):
        """Inside: the router's and experts' weights are on the execution device (a no-op unless offloaded; an
        offloaded model runs one call at a time, HFModel.forward)."""
        if not self.offloaded:
            yield
            return
        try:
            with materialised(self.offloaded):
                self.bind()
                yield
        finally:
            self.bind()  # back to the meta tensors, so that nothing keeps the brought-in weights alive

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        call = _CALL.get(None) or _Call(DEFAULT_ROUTING, None, False, [])
        with self.weights_ready():
            out, aux = self.moe(hidden_states, call.routing, call.generator, call.trace)
        call.auxes.append(aux)
        if self.shared is not None:
            shared = self.shared(hidden_states)
            out = out + (shared if self.shared_gate is None else torch.sigmoid(self.shared_gate(hidden_states)) * shared)
        return (out, aux.decision.gate_weights) if self.returns_scores else out


class HFCache:
    """transformers' DynamicCache with the zoo KVCache's `length` (settable: lowering it drops the newest
    positions, as the timing harness does to decode the same positions again) and `max_len`. A hybrid's
    linear-attention state cannot be cut back (it is a running sum, not a list of positions), so there the cache
    keeps a copy of itself as its first call (the prompt) left it, and going back to that length restores it."""

    def __init__(self, config, max_len: int):
        self.kv = DynamicCache(config=config)
        self.kv.activate_past_recording()  # so that sliding-window layers can be cropped
        self.max_len = max_len
        self.recurrent = any(isinstance(layer, LinearAttentionCacheLayerMixin) for layer in self.kv.layers)
        self.prompt: tuple[int, DynamicCache] | None = None

    @property
    def length(self) -> int:
        return self.kv.get_seq_length()

    @length.setter
    def length(self, value: int) -> None:
        if self.length <= value:
            return
        if not self.recurrent:
            self.kv.crop(value - self.length)
        elif self.prompt is not None and self.prompt[0] == value:
            self.kv = copy.deepcopy(self.prompt[1])
        else:
            raise ValueError(f"a linear-attention cache goes back only to the prompt's {self.prompt and self.prompt[0]} tokens")

    def after_call(self) -> None:
        """Called after every forward with this cache: keeps the prompt's state where it cannot be cut back to."""
        if self.recurrent and self.prompt is None:
            self.prompt = (self.length, copy.deepcopy(self.kv))


def execution_device(hf: nn.Module) -> torch.device:
    """Where a model's input goes: the first accelerator of its accelerate device map, else where its embedding is."""
    placed = [d for d in (getattr(hf, "hf_device_map", None) or {}).values() if d not in ("cpu", "disk")]
    if placed:
        return torch.device(placed[0])
    weight = hf.get_input_embeddings().weight
    return torch.device("cpu") if weight.is_meta else weight.device


def on_cpu(aux: MoEAux) -> MoEAux:
    """A layer's report with its trace on the CPU, where the backend reads it (the decision stays where it was computed)."""
    if aux.trace is None or aux.trace.logits.device.type == "cpu":
        return aux
    trace = dataclasses.replace(aux.trace, **{f.name: getattr(aux.trace, f.name).cpu() for f in dataclasses.fields(aux.trace)
                                              if isinstance(getattr(aux.trace, f.name), torch.Tensor)})
    return MoEAux(aux.decision, trace)


@dataclasses.dataclass
class _Resume:
    """A call's decoder layers below `start` return `outputs` recorded by an earlier call (expanded to `batch` rows)
    instead of running; with `record`, every layer's output is kept in `outputs`."""
    outputs: dict[int, object]
    start: int = 0
    batch: int = 1
    record: bool = False


_RESUME: contextvars.ContextVar[_Resume | None] = contextvars.ContextVar("resume", default=None)


def expanded(output: object, batch: int) -> object:
    """A decoder layer's output (a (1, T, D) tensor, or a tuple holding one) as `batch` identical rows (views)."""
    if isinstance(output, torch.Tensor):
        return output.expand(batch, *output.shape[1:])
    return type(output)(expanded(part, batch) for part in output) if isinstance(output, tuple) else output


def resumable(forward, index: int):
    """A decoder layer's forward that the call's `_Resume` may stand in for (the layer's own forward otherwise:
    the instance attribute shadows the class's, as accelerate's hooks do)."""
    @functools.wraps(forward)
    def run(*args, **kwargs):
        resume = _RESUME.get()
        if resume is not None and index < resume.start:
            return expanded(resume.outputs[index], resume.batch)
        output = forward(*args, **kwargs)
        if resume is not None and resume.record:
            resume.outputs[index] = output
        return output
    return run


class HFModel(nn.Module):
    """A loaded transformers causal LM behind the zoo Transformer's interface. Inputs go to its execution device
    (a GPU, or the CPU); logits and traces come back on the CPU. A model with offloaded layers (accelerate's hooks
    bring their weights in and out around each call) serves one call at a time. `layer_outputs` and
    `forward(..., resume=...)` let a batch of variants that differ only from some layer on (the importance heatmap's
    ablations of one layer) start there, from one recorded forward, instead of running every layer again."""

    def __init__(self, hf: nn.Module, cfg: HFShape, arch: ArchSpec, blocks: list[RoutedBlock]):
        super().__init__()
        self.hf, self.cfg, self.arch = hf, cfg, arch
        self.blocks = nn.ModuleList(blocks)
        self.device = execution_device(hf)
        self.offloaded = any(offloads(m) for m in hf.modules())
        self.serial = threading.Lock() if self.offloaded else contextlib.nullcontext()
        layers = decoder_layers(hf, cfg.family)
        for index, layer in enumerate(layers):
            layer.forward = resumable(layer.forward, index)
        self.moe_decoder_index = [next(i for i, layer in enumerate(layers) if block in layer.children()) for block in blocks]

    def layer_outputs(self, idx: torch.Tensor, routing: RoutingOptions = DEFAULT_ROUTING) -> dict[int, object]:
        """idx (1, T) -> every decoder layer's output in a forward over it, by index, to resume later calls from."""
        resume = _Resume({}, record=True)
        token = _RESUME.set(resume)
        try:
            self(idx, routing=routing)
        finally:
            _RESUME.reset(token)
        return resume.outputs

    def new_cache(self, batch: int, max_len: int | None = None) -> HFCache:
        return HFCache(self.hf.config, max_len or self.cfg.context_length)

    def moe_layers(self) -> list[MoELayer]:
        return [b.moe for b in self.blocks]

    def forward(self, idx: torch.Tensor, routing: RoutingOptions = DEFAULT_ROUTING, trace: bool = False,
                cache: HFCache | None = None, resume: tuple[int, dict[int, object]] | None = None) -> ModelOutput:
        """idx (B, T) token ids -> ModelOutput (logits (B, T, V) and one MoEAux per MoE layer that ran), on the CPU.
        resume (start, outputs from `layer_outputs` over the same T ids with the same routing): decoder layers below
        `start` are not run, their recorded outputs stand in; valid when the call differs from the recorded one only
        from that layer on, with no noise and no capacity limit (rows and layers then never interact)."""
        idx = idx.to(self.device)
        _, generator = prepare_call(self.cfg, idx, routing, cache)
        call = _Call(routing, generator, trace, [])
        with self.serial:
            token = _CALL.set(call)
            resumed = _RESUME.set(_Resume(resume[1], resume[0], idx.shape[0])) if resume is not None else None
            try:
                out = self.hf(input_ids=idx, cache=cache.kv if cache is not None else None, use_cache=cache is not None)
            finally:
                if resumed is not None:
                    _RESUME.reset(resumed)
                _CALL.reset(token)
        if cache is not None:
            cache.after_call()
        return ModelOutput(out.logits.cpu(), tuple(on_cpu(aux) for aux in call.auxes))


def module_arch(hf: nn.Module, config: dict) -> ArchSpec:
    """A dense model the calculator does not parse, counted from its modules: embedding, head, norms and
    the rest of each decoder layer (as attention + dense FFN by parameter name)."""
    embed = hf.get_input_embeddings().weight
    head = hf.get_output_embeddings()
    tied = head is None or head.weight is embed
    layers = []
    for layer in decoder_layers(hf, config.get("model_type", "")):
        named = dict(layer.named_parameters())
        norms = sum(p.numel() for n, p in named.items() if "norm" in n)
        ffn = sum(p.numel() for n, p in named.items() if "mlp" in n and "norm" not in n)
        attention = sum(p.numel() for p in named.values()) - norms - ffn
        width = config.get("hidden_size", embed.shape[1])
        layers.append(LayerSpec(attention, norms, FFNSpec(dense=ffn), width, width))
    final = sum(p.numel() for n, p in hf.model.named_parameters() if n.startswith("norm"))
    return ArchSpec(config.get("model_type", "unknown"), embed.shape[0], embed.shape[1], tuple(layers), tied, final)


def decoder_layers(hf: nn.Module, model_type: str) -> nn.ModuleList:
    """The decoder layers of a causal LM (where the family keeps them; model.layers for most)."""
    family = FAMILIES.get(model_type)
    return module_at(hf, family.layers if family else "model.layers")


def route_moe_blocks(hf: nn.Module, config: dict) -> list[RoutedBlock]:
    """Replace every sparse MoE block of an MoE family by a RoutedBlock; -> the blocks, in layer order."""
    family = FAMILIES[config["model_type"]]
    if config.get("hidden_act", "silu") != "silu" and family.expert_layout != "gpt_oss":
        raise ValueError(f"experts with activation {config['hidden_act']!r} are not supported (SwiGLU/silu only)")
    rule, top_k = resolve_rule(family, hf.config), read(hf.config, family.top_k)
    if not isinstance(top_k, int):
        raise ValueError(f"{family.model_type}: a top-K per layer ({top_k!r}) is not supported")
    blocks = []
    for layer in decoder_layers(hf, family.model_type):
        block = getattr(layer, family.block, None)
        if not is_sparse(block, family):
            continue  # a dense layer of an MoE model (first_k_dense_replace, mlp_only_layers, decoder_sparse_step)
        routed = RoutedBlock(block, family, rule, len(blocks), top_k, hf.config)
        e, f, d = routed.moe.experts.weights()[0].shape
        if routed.moe.experts.weights()[2].shape != (e, d, f):
            raise ValueError(f"{family.model_type}: expert weights of an unexpected layout")
        rule.check(e)
        setattr(layer, family.block, routed)
        blocks.append(routed)
    if not blocks:
        raise ValueError(f"{family.model_type}: no sparse MoE block found in the decoder layers")
    return blocks
