"""Read a model's architecture from a Hugging Face style config.json (or this project's own config).

The result, an `ArchSpec`, lists per layer the parameters of attention, norms and FFN (dense, or
routed experts + shared experts + router), enough to count total and active parameters and FLOPs
(models/params.py, the one derivation shared with the zoo). Families understood: Llama/Mistral/Qwen2/Qwen3/Granite (dense,
grouped-query attention), every MoE family of the loader's registry (models/hf_families.py: Mixtral, GraniteMoE,
Qwen2-MoE, Qwen3-MoE, OLMoE, DeepSeek-V2/V3 with multi-head latent attention, GLM-4.5, dots.llm1, ERNIE 4.5,
Hunyuan, FlexOlmo, DBRX), gpt-oss, and this project's ModelConfig (tests check every registry family is parsed). A missing or ill-typed field raises `ConfigError` naming it; fields
that would change the count but are not understood are reported in `unknown_fields`, never guessed.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from errors import UserError
from models.config import ModelConfig
from models.params import ArchSpec, FFNSpec, LayerSpec, arch_of

MAX_DIM = 10_000_000  # no real width, vocabulary or expert count comes near this
MAX_LAYERS = 10_000
# fields that never change parameter counts (tokens ids, numerics, training and runtime options)
NON_STRUCTURAL = {
    "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "bos_token_id", "eos_token_id",
    "pad_token_id", "initializer_range", "rms_norm_eps", "layer_norm_eps", "rope_theta", "rope_scaling",
    "max_position_embeddings", "use_cache", "hidden_act", "attention_dropout", "output_router_logits",
    "router_aux_loss_coef", "router_jitter_noise", "norm_topk_prob", "use_sliding_window", "max_window_layers",
    "sliding_window", "rope_parameters", "_name_or_path", "auto_map", "quantization_config", "pretraining_tp",
    "resid_pdrop", "emb_pdrop", "router_z_loss_coef", "clip_qkv", "scoring_func", "topk_method", "n_group",
    "topk_group", "routed_scaling_factor", "aux_loss_alpha", "seq_aux", "ep_size", "num_nextn_predict_layers",
    "swiglu_limit", "initial_context_length", "experts_per_token", "output_router_logits", "max_seq_len",
    "qk_layernorm", "attention_dropout_prob",
    "rope_interleave", "use_qk_norm", "router_dtype", "n_routed_experts_per_token", "bias", "moe_jitter_eps",
    "moe_loss_weight", "embedding_multiplier", "logits_scaling", "residual_multiplier", "attention_multiplier",
}


class ConfigError(UserError):
    """A config that cannot be read; the message names the field."""


class _Reader:
    """Typed access to a config dict that remembers which fields were read."""

    def __init__(self, data: dict[str, Any], prefix: str = ""):
        if not isinstance(data, dict):
            raise ConfigError(f"{prefix or 'the config'} must be a JSON object")
        self.data, self.prefix, self.used = data, prefix, set()

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def int(self, key: str, default: Any = ..., minimum: int = 1, maximum: int = MAX_DIM) -> int:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise ConfigError(f"field '{self._name(key)}' is missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"field '{self._name(key)}' must be an integer, got {value!r}")
        if not minimum <= value <= maximum:
            raise ConfigError(f"field '{self._name(key)}' = {value} is out of range [{minimum}, {maximum:,}]")
        return value

    def bool(self, key: str, default: bool) -> bool:
        self.used.add(key)
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"field '{self._name(key)}' must be true or false, got {value!r}")
        return value

    def int_list(self, key: str) -> list[int]:
        self.used.add(key)
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"field '{self._name(key)}' must be a list of integers, got {value!r}")
        return value

    def sub(self, key: str) -> "_Reader":
        self.used.add(key)
        if key not in self.data:
            raise ConfigError(f"field '{self._name(key)}' is missing")
        return _Reader(self.data[key], prefix=f"{self._name(key)}.")

    def unknown(self, *subreaders: "_Reader") -> tuple[str, ...]:
        names = [self._name(k) for k in self.data if k not in self.used and k not in NON_STRUCTURAL]
        for r in subreaders:
            names += [r._name(k) for k in r.data if k not in r.used and k not in NON_STRUCTURAL]
        return tuple(sorted(names))


def swiglu(hidden: int, width: int, bias: bool = False) -> int:
    """gate, up (hidden -> width) and down (width -> hidden) projections."""
    return 3 * hidden * width + ((2 * width + hidden) if bias else 0)


def gqa_attention(r: _Reader, hidden: int, qkv_bias: bool, out_bias: bool, qk_norm: str | None, sinks: bool):
    """-> (params, score_width, value_width) of grouped-query attention."""
    heads = r.int("num_attention_heads")
    kv_heads = r.int("num_key_value_heads", heads)
    if heads % kv_heads:
        raise ConfigError(f"field 'num_attention_heads' ({heads}) must be a multiple of 'num_key_value_heads' ({kv_heads})")
    head_dim = r.int("head_dim", hidden // heads)
    q, kv = heads * head_dim, kv_heads * head_dim
    params = hidden * q + 2 * hidden * kv + q * hidden
    params += (q + 2 * kv) if qkv_bias else 0
    params += hidden if out_bias else 0
    params += {"per_head": 2 * head_dim, "full": q + kv, None: 0}[qk_norm]  # Qwen3: per head; OLMoE: over q and k
    params += heads if sinks else 0  # gpt-oss: one learned sink logit per head
    return params, q, q


def mla_attention(r: _Reader, hidden: int):
    """DeepSeek-V2/V3 multi-head latent attention -> (params, score_width, value_width)."""
    heads = r.int("num_attention_heads")
    if r.int("num_key_value_heads", heads) != heads or r.bool("attention_bias", False):
        raise ConfigError("multi-head latent attention needs 'num_key_value_heads' = 'num_attention_heads' and no 'attention_bias'")
    q_rank = r.int("q_lora_rank", None)
    kv_rank = r.int("kv_lora_rank")
    nope, rope, v_dim = r.int("qk_nope_head_dim"), r.int("qk_rope_head_dim"), r.int("v_head_dim")
    qk = nope + rope
    q_params = hidden * heads * qk if q_rank is None else hidden * q_rank + q_rank + q_rank * heads * qk
    kv_params = hidden * (kv_rank + rope) + kv_rank + kv_rank * heads * (nope + v_dim)
    return q_params + kv_params + heads * v_dim * hidden, heads * qk, heads * v_dim


def _layers(n: int, attention, norms: int, ffn_of, window_of=lambda i: None):
    """attention: (params, score width, value width) for every layer, or a function of the layer giving it (hybrids)."""
    attention_of = attention if callable(attention) else (lambda i: attention)
    layers = []
    for i in range(n):
        params, score, value = attention_of(i)
        layers.append(LayerSpec(params, norms, ffn_of(i), score, value, window_of(i)))
    return tuple(layers)


def parse_hf_config(data: dict[str, Any]) -> ArchSpec:
    r = _Reader(data)
    r.used.add("model_type")
    family = data.get("model_type")
    if family == "dbrx":
        return _dbrx(r)
    if family not in FAMILIES:
        raise ConfigError(f"field 'model_type' = {family!r} is not understood; known: {', '.join(sorted(FAMILIES) + ['dbrx'])}")
    hidden, vocab, n = r.int("hidden_size"), r.int("vocab_size"), r.int("num_hidden_layers", maximum=MAX_LAYERS)
    tied = r.bool("tie_word_embeddings", False)
    attention, ffn_of, window_of = FAMILIES[family](r, hidden, n)
    return ArchSpec(family, vocab, hidden, _layers(n, attention, 2 * hidden, ffn_of, window_of), tied, hidden, r.unknown())


def _llama(r, hidden, n):
    bias = r.bool("attention_bias", False)
    mlp_bias = r.bool("mlp_bias", False)
    dense = FFNSpec(dense=swiglu(hidden, r.int("intermediate_size"), mlp_bias))
    return gqa_attention(r, hidden, bias, bias, None, False), (lambda i: dense), lambda i: None


def _qwen2(r, hidden, n):
    dense = FFNSpec(dense=swiglu(hidden, r.int("intermediate_size")))
    return gqa_attention(r, hidden, True, False, None, False), (lambda i: dense), lambda i: None


def _qwen3(r, hidden, n):
    bias = r.bool("attention_bias", False)
    dense = FFNSpec(dense=swiglu(hidden, r.int("intermediate_size")))
    return gqa_attention(r, hidden, bias, bias, "per_head", False), (lambda i: dense), lambda i: None


def _routed(r, hidden, width_key: str, experts_key: str, shared: int = 0, router_bias: bool = False,
            expert_bias: bool = False, extra_router: int = 0, experts_per_token: str = "num_experts_per_tok") -> FFNSpec:
    if experts_key == "num_experts" and "num_experts" not in r.data and "num_local_experts" in r.data:
        experts_key = "num_local_experts"  # transformers 5 writes Qwen-MoE's and OLMoE's expert count under this name
    e = r.int(experts_key)
    k = r.int(experts_per_token, maximum=e)
    return FFNSpec(expert=swiglu(hidden, r.int(width_key), expert_bias), n_experts=e, top_k=k, shared=shared,
                   router=hidden * e + (e if router_bias else 0) + extra_router)


def _mixtral(r, hidden, n):
    moe = _routed(r, hidden, "intermediate_size", "num_local_experts")
    return gqa_attention(r, hidden, False, False, None, False), (lambda i: moe), lambda i: None


def _granitemoe(r, hidden, n):
    bias = r.bool("attention_bias", False)
    moe = _routed(r, hidden, "intermediate_size", "num_local_experts")
    return gqa_attention(r, hidden, bias, bias, None, False), (lambda i: moe), lambda i: None


def _qwen_moe(r, hidden, n, shared_expert: bool, attention):
    shared = 0
    if shared_expert:
        shared = swiglu(hidden, r.int("shared_expert_intermediate_size")) + hidden  # + sigmoid gate
    moe = _routed(r, hidden, "moe_intermediate_size", "num_experts", shared=shared)
    step = r.int("decoder_sparse_step", 1)
    dense_only = set(r.int_list("mlp_only_layers"))
    dense_width = r.int("intermediate_size", 0, minimum=0)
    def ffn_of(i):
        if i in dense_only or (i + 1) % step:
            if not dense_width:
                raise ConfigError("field 'intermediate_size' is missing (needed for the dense layers)")
            return FFNSpec(dense=swiglu(hidden, dense_width))
        return moe
    return attention, ffn_of, lambda i: None


def _qwen2_moe(r, hidden, n):
    return _qwen_moe(r, hidden, n, True, gqa_attention(r, hidden, True, False, None, False))


def _qwen3_moe(r, hidden, n):
    bias = r.bool("attention_bias", False)
    return _qwen_moe(r, hidden, n, False, gqa_attention(r, hidden, bias, bias, "per_head", False))


def _olmoe(r, hidden, n):
    bias = r.bool("attention_bias", False)
    moe = _routed(r, hidden, "intermediate_size", "num_experts")
    return gqa_attention(r, hidden, bias, bias, "full", False), (lambda i: moe), lambda i: None


def _deepseek_ffn(r, hidden):
    """DeepSeek-style FFNs: the first `first_k_dense_replace` layers dense, then routed experts plus shared ones."""
    width = r.int("moe_intermediate_size")
    shared = r.int("n_shared_experts", 0, minimum=0) * swiglu(hidden, width)
    e = r.int("n_routed_experts")
    correction_bias = e if r.data.get("topk_method") == "noaux_tc" else 0  # DeepSeek-V3 e_score_correction_bias
    moe = _routed(r, hidden, "moe_intermediate_size", "n_routed_experts", shared=shared, extra_router=correction_bias)
    first_dense = r.int("first_k_dense_replace", 0, minimum=0, maximum=MAX_LAYERS)
    freq = r.int("moe_layer_freq", 1)
    dense = FFNSpec(dense=swiglu(hidden, r.int("intermediate_size")))
    return lambda i: moe if i >= first_dense and i % freq == 0 else dense


def _deepseek(r, hidden, n):
    return mla_attention(r, hidden), _deepseek_ffn(r, hidden), lambda i: None


def _glm4_moe(r, hidden, n):
    qk_norm = "per_head" if r.bool("use_qk_norm", False) else None
    return gqa_attention(r, hidden, r.bool("attention_bias", False), False, qk_norm, False), _deepseek_ffn(r, hidden), lambda i: None


def _dots1(r, hidden, n):
    bias = r.bool("attention_bias", False)
    return gqa_attention(r, hidden, bias, bias, "per_head", False), _deepseek_ffn(r, hidden), lambda i: None


def _ernie4_5_moe(r, hidden, n):
    bias = r.bool("use_bias", False)
    width = r.int("moe_intermediate_size")
    shared = r.int("moe_num_shared_experts", 0, minimum=0) * swiglu(hidden, width)
    moe = _routed(r, hidden, "moe_intermediate_size", "moe_num_experts", shared=shared, experts_per_token="moe_k")
    moe = replace(moe, router=moe.router + moe.n_experts)  # + the selection bias (moe_statics), stored as a parameter
    start, interval = r.int("moe_layer_start_index", 0, minimum=0), r.int("moe_layer_interval", 1)
    end = r.int("moe_layer_end_index", -1, minimum=-1)
    end = n - 1 if end < 0 else end
    dense = FFNSpec(dense=swiglu(hidden, r.int("intermediate_size")))
    return (gqa_attention(r, hidden, bias, bias, None, False),
            lambda i: moe if (i + 1) % interval == 0 and start <= i <= end else dense, lambda i: None)


def _hunyuan_v1_moe(r, hidden, n):
    bias = r.bool("attention_bias", False)
    width = r.int("intermediate_size")
    shared = r.int("num_shared_expert", 1, minimum=0) * swiglu(hidden, width)
    moe = _routed(r, hidden, "intermediate_size", "num_experts", shared=shared, experts_per_token="moe_topk")
    return gqa_attention(r, hidden, bias, bias, "per_head", False), (lambda i: moe), lambda i: None


def layer_kinds(r, n: int, interval_key: str | None = None) -> list[str]:
    """Each layer's kind from 'layer_types'; without it (or with an empty list) every `interval_key`-th layer full
    attention and the rest linear, or, with no interval key, every layer full attention."""
    r.used.add("layer_types")
    kinds = r.data.get("layer_types")
    if not kinds:
        every = r.int(interval_key) if interval_key else 1
        kinds = ["full_attention" if (i + 1) % every == 0 else "linear_attention" for i in range(n)]
    if len(kinds) != n:
        raise ConfigError(f"field 'layer_types' must list {n} layers, got {len(kinds)}")
    return kinds


def gated_delta_net(r, hidden) -> int:
    """Qwen3-Next's linear attention (Gated DeltaNet): q, k, v, z and b, a projections, a causal convolution over q,
    k, v, per-head decay and step, a gated norm and the output projection."""
    k_heads, v_heads = r.int("linear_num_key_heads"), r.int("linear_num_value_heads")
    key, value = k_heads * r.int("linear_key_head_dim"), v_heads * r.int("linear_value_head_dim")
    conv = (2 * key + value) * r.int("linear_conv_kernel_dim")
    return hidden * (2 * key + 2 * value) + hidden * 2 * v_heads + conv + 2 * v_heads + value // v_heads + value * hidden


def _qwen3_next(r, hidden, n):
    bias = r.bool("attention_bias", False)
    params, q, v = gqa_attention(r, hidden, bias, bias, "per_head", False)
    full = (params + hidden * q + (q if bias else 0), q, v)  # the query projection is doubled: a gate per query
    linear = (gated_delta_net(r, hidden), 0, 0)  # a fixed-size state: no attention over the context
    kinds = layer_kinds(r, n, "full_attention_interval")
    attention = lambda i: full if kinds[i] == "full_attention" else linear  # noqa: E731
    return _qwen_moe(r, hidden, n, True, attention)


def _llama4_text(r, hidden, n):
    """Llama 4's text model: every `interleave_moe_layer_step`-th layer (or those listed in `moe_layers`) an MoE
    with one shared expert as wide as a routed one; the others dense (`intermediate_size_mlp`). Its q/k norm has
    no parameters (an L2 norm)."""
    bias = r.bool("attention_bias", False)
    r.used.update({"use_qk_norm", "no_rope_layers", "attention_chunk_size", "layer_types", "attn_temperature_tuning",
                   "floor_scale", "attn_scale"})
    width = r.int("intermediate_size")
    moe = _routed(r, hidden, "intermediate_size", "num_local_experts", shared=swiglu(hidden, width))
    step = r.int("interleave_moe_layer_step", 1)
    listed = r.int_list("moe_layers") or [i for i in range(n) if (i + 1) % step == 0]
    dense = FFNSpec(dense=swiglu(hidden, r.int("intermediate_size_mlp")))
    return gqa_attention(r, hidden, bias, bias, None, False), (lambda i: moe if i in listed else dense), lambda i: None


def _flex_olmo(r, hidden, n):
    bias = r.bool("attention_bias", False)
    moe = _routed(r, hidden, "intermediate_size", "num_experts")
    return gqa_attention(r, hidden, bias, bias, "full", False), (lambda i: moe), lambda i: None


def _gpt_oss(r, hidden, n):
    moe = _routed(r, hidden, "intermediate_size", "num_local_experts", router_bias=True, expert_bias=True)
    window = r.int("sliding_window", None)
    kinds = layer_kinds(r, n)
    bias = r.bool("attention_bias", True)
    return (gqa_attention(r, hidden, bias, bias, None, True), (lambda i: moe),
            lambda i: window if kinds[i] == "sliding_attention" else None)


def _dbrx(r: _Reader) -> ArchSpec:
    hidden, vocab, n = r.int("d_model"), r.int("vocab_size"), r.int("n_layers", maximum=MAX_LAYERS)
    heads = r.int("n_heads")
    attn, ffn = r.sub("attn_config"), r.sub("ffn_config")
    kv = attn.int("kv_n_heads", heads) * (hidden // heads)
    e = ffn.int("moe_num_experts")
    moe = FFNSpec(expert=swiglu(hidden, ffn.int("ffn_hidden_size")), n_experts=e, top_k=ffn.int("moe_top_k", maximum=e),
                  router=hidden * e)
    attention = (hidden * (hidden + 2 * kv) + hidden * hidden, hidden, hidden)  # fused Wqkv + out_proj, no biases
    layers = _layers(n, attention, 2 * hidden, lambda i: moe)  # LayerNorms without bias: weight only
    return ArchSpec("dbrx", vocab, hidden, layers, r.bool("tie_word_embeddings", False), hidden, r.unknown(attn, ffn))


FAMILIES = {
    "llama": _llama, "mistral": _llama, "qwen2": _qwen2, "qwen3": _qwen3, "mixtral": _mixtral,
    "qwen2_moe": _qwen2_moe, "qwen3_moe": _qwen3_moe, "olmoe": _olmoe, "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek, "gpt_oss": _gpt_oss, "granite": _llama, "granitemoe": _granitemoe, "glm4_moe": _glm4_moe,
    "dots1": _dots1, "ernie4_5_moe": _ernie4_5_moe, "hunyuan_v1_moe": _hunyuan_v1_moe, "flex_olmo": _flex_olmo,
    "qwen3_next": _qwen3_next, "llama4_text": _llama4_text,
}


def parse_project_config(data: dict[str, Any]) -> ArchSpec:
    """This project's ModelConfig JSON (assets/models/*/config.json), counted as models/params.py does."""
    try:
        return arch_of(ModelConfig.from_dict(data))
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None


def parse_config(data: Any) -> ArchSpec:
    if isinstance(data, dict) and "ffn_kind" in data:
        return parse_project_config(data)
    if not isinstance(data, dict):
        raise ConfigError("the config must be a JSON object")
    return parse_hf_config(data)
