"""The one registry of Hugging Face MoE families: one entry per model type, read by the loader
(models/hf_routed.py, backend/real_models.py), the calculator (scale/architectures.py) and the tests.

An entry says where a family keeps its MoE block, router, experts and shared expert in transformers' modules,
and its routing rule (routing/rules.py) as data: each rule field is a constant, or the name of a config
attribute to read it from (a dotted name reads a nested config, e.g. DBRX's `ffn_config.moe_top_k`). The
rule, resolved against a loaded model's config, is what `RuleRouter` runs; nothing else in the code branches
on the family. `tiny` holds the fields of a small test checkpoint made with transformers' own config class.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from routing.rules import RoutingRule

Field = float | int | bool | str | None  # a constant, or a config attribute's name


@dataclass(frozen=True)
class RuleSpec:
    """A RoutingRule whose fields may name config attributes. norm: True/False, or a boolean config field
    (True renormalises to sum 1), or `norm_p` names a float field (DBRX's p-norm, None = none)."""
    score: str = "softmax"
    choice_bias: str | None = None  # the block's attribute holding the selection-only bias (a dotted path)
    choice_bias_switch: str | None = None  # a boolean config field that turns the bias on (LFM2's use_expert_bias)
    groups: Field = 1
    groups_kept: Field = 1
    group_score: str = "max"
    groups_when: tuple[str, str] | None = None  # (config field, value): groups apply only then (DeepSeek-V2's topk_method)
    norm: Field = True
    norm_p: str | None = None
    scale: Field = 1.0


@dataclass(frozen=True)
class Family:
    model_type: str
    name: str  # as people know it
    example: str  # a hub checkpoint of the family
    config_class: str  # transformers' config class (tests build tiny checkpoints with it)
    rule: RuleSpec = RuleSpec()
    layers: str = "model.layers"  # the causal LM's decoder layers
    block: str = "mlp"  # a decoder layer's attribute holding the MoE block (a dense layer holds a dense MLP there)
    router: str = "gate"  # the block's module whose `weight` is the router (E, D) (and `bias`, if any)
    experts: str = "experts"
    expert_layout: str = "fused"  # fused: gate_up_proj (E, 2F, D), down_proj (E, D, F); flat: w1, v1, w2 (E*F, D);
    # gpt_oss: gate and up interleaved in (E, D, 2F), down (E, F, D), biases, clamped SwiGLU; llama4: (E, D, 2F) and
    # (E, F, D), the gate scaling the expert's input (models/hf_routed.ExpertViews)
    shared: str | None = None  # the block's shared expert(s), run on every token
    shared_gate: str | None = None  # a Linear (D -> 1) whose sigmoid scales the shared output
    top_k: str = "num_experts_per_tok"
    returns_scores: bool = False  # the block returns (output, router scores), as gpt-oss's does
    logits_in_float32: bool = False
    tiny: dict = field(default_factory=dict)  # test checkpoint fields beside tests/hf_checkpoints.COMMON
    tiny_is_complete: bool = False  # `tiny` is the whole config (a family whose field names differ)
    preset: str | None = None  # the calculator's shipped reference config of `example` (assets/reference_configs/)


DEEPSEEK_V3_RULE = RuleSpec("sigmoid", "gate.e_score_correction_bias", None, "n_group", "topk_group", "top2_sum",
                            norm="norm_topk_prob", scale="routed_scaling_factor")
QWEN_NORM = RuleSpec(norm="norm_topk_prob")
MLA = dict(q_lora_rank=16, kv_lora_rank=8, qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=8, head_dim=4,
           num_key_value_heads=4)

FAMILIES = {f.model_type: f for f in (
    Family("mixtral", "Mixtral", "mistralai/Mixtral-8x7B-v0.1", "MixtralConfig",
           preset="mixtral-8x7b", tiny=dict(intermediate_size=16, num_local_experts=4, num_experts_per_tok=2)),
    Family("qwen2_moe", "Qwen1.5-MoE / Qwen2-MoE", "Qwen/Qwen1.5-MoE-A2.7B", "Qwen2MoeConfig", QWEN_NORM,
           shared="shared_expert", shared_gate="shared_expert_gate",
           preset="qwen1.5-moe-a2.7b", tiny=dict(intermediate_size=48, moe_intermediate_size=16, num_experts=4, num_experts_per_tok=2,
                     shared_expert_intermediate_size=24, norm_topk_prob=False)),
    Family("qwen3_moe", "Qwen3-MoE", "Qwen/Qwen3-30B-A3B", "Qwen3MoeConfig", QWEN_NORM,
           preset="qwen3-30b-a3b", tiny=dict(intermediate_size=48, moe_intermediate_size=16, num_experts=6, num_experts_per_tok=2,
                     norm_topk_prob=True, mlp_only_layers=[1], head_dim=8)),
    Family("olmoe", "OLMoE", "allenai/OLMoE-1B-7B-0924", "OlmoeConfig", QWEN_NORM,
           preset="olmoe-1b-7b", tiny=dict(intermediate_size=16, num_experts=8, num_experts_per_tok=3, norm_topk_prob=False)),
    Family("granitemoe", "Granite MoE", "ibm-granite/granite-3.0-1b-a400m-base", "GraniteMoeConfig",
           block="block_sparse_moe", router="router",
           tiny=dict(intermediate_size=16, num_local_experts=4, num_experts_per_tok=2, embedding_multiplier=3.0,
                     residual_multiplier=0.5, attention_multiplier=0.2, logits_scaling=2.0)),
    Family("gpt_oss", "gpt-oss", "openai/gpt-oss-20b", "GptOssConfig", router="router", expert_layout="gpt_oss",
           returns_scores=True,
           preset="gpt-oss-20b", tiny=dict(intermediate_size=16, num_local_experts=4, num_experts_per_tok=2, head_dim=8, sliding_window=8,
                     layer_types=["sliding_attention", "full_attention"])),
    Family("llama4_text", "Llama 4 (text)", "meta-llama/Llama-4-Scout-17B-16E", "Llama4TextConfig",
           RuleSpec("sigmoid", norm=False), block="feed_forward", router="router", expert_layout="llama4",
           shared="shared_expert", returns_scores=True,
           tiny=dict(intermediate_size=16, intermediate_size_mlp=48, num_local_experts=4, num_experts_per_tok=1, head_dim=8,
                     interleave_moe_layer_step=2, pad_token_id=1, eos_token_id=2, bos_token_id=0)),
    Family("deepseek_v3", "DeepSeek-V3 / R1, Kimi K2", "deepseek-ai/DeepSeek-V3", "DeepseekV3Config", DEEPSEEK_V3_RULE,
           shared="shared_experts", logits_in_float32=True,
           preset="deepseek-v3", tiny=dict(MLA, intermediate_size=48, moe_intermediate_size=16, n_routed_experts=8, num_experts_per_tok=3,
                     n_group=4, topk_group=2, n_shared_experts=1, first_k_dense_replace=1, routed_scaling_factor=2.5,
                     norm_topk_prob=True, num_hidden_layers=3)),
    Family("deepseek_v2", "DeepSeek-V2 / V2-Lite", "deepseek-ai/DeepSeek-V2-Lite", "DeepseekV2Config",
           RuleSpec(groups="n_group", groups_kept="topk_group", groups_when=("topk_method", "group_limited_greedy"),
                    norm=False, scale="routed_scaling_factor"),
           shared="shared_experts", logits_in_float32=True,
           preset="deepseek-v2-lite", tiny=dict(MLA, intermediate_size=48, moe_intermediate_size=16, n_routed_experts=8, num_experts_per_tok=2,
                     n_group=4, topk_group=2, topk_method="group_limited_greedy", n_shared_experts=2,
                     first_k_dense_replace=1, routed_scaling_factor=1.5, num_hidden_layers=3)),
    Family("glm4_moe", "GLM-4.5 / 4.6", "zai-org/GLM-4.5-Air", "Glm4MoeConfig", DEEPSEEK_V3_RULE,
           shared="shared_experts", logits_in_float32=True,
           tiny=dict(intermediate_size=48, moe_intermediate_size=16, n_routed_experts=8, num_experts_per_tok=2,
                     n_group=2, topk_group=1, n_shared_experts=1, first_k_dense_replace=1, routed_scaling_factor=1.5,
                     norm_topk_prob=True, num_hidden_layers=3, head_dim=8)),
    Family("dots1", "dots.llm1", "rednote-hilab/dots.llm1.base", "Dots1Config", DEEPSEEK_V3_RULE,
           shared="shared_experts", logits_in_float32=True,
           tiny=dict(intermediate_size=48, moe_intermediate_size=16, n_routed_experts=8, num_experts_per_tok=2,
                     n_group=2, topk_group=2, n_shared_experts=1, first_k_dense_replace=1, routed_scaling_factor=2.0,
                     norm_topk_prob=True, num_hidden_layers=3, head_dim=8)),
    Family("ernie4_5_moe", "ERNIE 4.5 MoE", "baidu/ERNIE-4.5-21B-A3B-PT", "Ernie4_5_MoeConfig",
           RuleSpec(choice_bias="gate.moe_statics.e_score_correction_bias"), shared="shared_experts",
           logits_in_float32=True,
           tiny=dict(intermediate_size=48, moe_intermediate_size=16, moe_num_experts=6, moe_k=2, moe_num_shared_experts=1,
                     moe_layer_start_index=1, moe_layer_interval=1, num_hidden_layers=3)),
    Family("hunyuan_v1_moe", "Hunyuan-A13B", "tencent/Hunyuan-A13B-Instruct", "HunYuanMoEV1Config",
           router="gate.wg", shared="shared_mlp", top_k="moe_topk",
           tiny=dict(intermediate_size=16, num_experts=4, moe_topk=2, head_dim=8)),
    Family("flex_olmo", "FlexOlmo", "allenai/FlexOlmo-7x7B-1T", "FlexOlmoConfig", QWEN_NORM,
           tiny=dict(intermediate_size=16, num_experts=4, num_experts_per_tok=2, norm_topk_prob=False, pad_token_id=1,
                     eos_token_id=2)),
    Family("qwen3_next", "Qwen3-Next (hybrid: Gated DeltaNet and gated attention)", "Qwen/Qwen3-Next-80B-A3B-Instruct",
           "Qwen3NextConfig", QWEN_NORM, shared="shared_expert", shared_gate="shared_expert_gate",
           tiny=dict(intermediate_size=48, moe_intermediate_size=16, num_experts=4, num_experts_per_tok=2, head_dim=8,
                     shared_expert_intermediate_size=24, norm_topk_prob=True, linear_num_value_heads=4,
                     linear_num_key_heads=2, linear_key_head_dim=8, linear_value_head_dim=8, linear_conv_kernel_dim=4,
                     full_attention_interval=2, num_hidden_layers=4, mlp_only_layers=[2])),
    Family("dbrx", "DBRX", "databricks/dbrx-base", "DbrxConfig", RuleSpec(norm_p="ffn_config.moe_normalize_expert_weights"),
           layers="transformer.blocks", block="ffn", router="router.layer", experts="experts.mlp", expert_layout="flat",
           top_k="ffn_config.moe_top_k", tiny_is_complete=True,
           preset="dbrx", tiny=dict(d_model=32, n_heads=4, n_layers=2, max_seq_len=128, vocab_size=4096, tie_word_embeddings=False,
                     attn_config=dict(kv_n_heads=2, rope_theta=10000.0, clip_qkv=8.0), ffn_config=dict(ffn_hidden_size=16, moe_num_experts=4, moe_top_k=2,
                                                                      moe_normalize_expert_weights=1.0))),
)}


EXPERT_COUNTS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")  # where configs say it


def declares_experts(config: dict) -> bool:
    """Whether a config.json describes an MoE (an expert count at the top level, or in DBRX's nested ffn_config)."""
    nested = config.get("ffn_config") if isinstance(config.get("ffn_config"), dict) else {}
    return any(isinstance(c.get(key), int) and c.get(key) > 1 for c in (config, nested) for key in EXPERT_COUNTS)


def read(config, name: Field):
    """A rule field's value: a constant as is, a string as the (dotted) config attribute it names."""
    if not isinstance(name, str):
        return name
    value = config
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part)
    return value


def resolve_rule(family: Family, config) -> RoutingRule:
    """The family's rule with every named field read from a loaded model's config (transformers' config object)."""
    spec = family.rule
    grouped = spec.groups_when is None or read(config, spec.groups_when[0]) == spec.groups_when[1]
    norm_p = read(config, spec.norm_p) if spec.norm_p else (1.0 if read(config, spec.norm) else None)
    use_bias = spec.choice_bias is not None and (spec.choice_bias_switch is None or bool(read(config, spec.choice_bias_switch)))
    return RoutingRule(score=spec.score, choice_bias=use_bias, groups=int(read(config, spec.groups)) if grouped else 1,
                       groups_kept=int(read(config, spec.groups_kept)) if grouped else 1, group_score=spec.group_score,
                       norm_p=None if norm_p is None else float(norm_p), scale=float(read(config, spec.scale)))
