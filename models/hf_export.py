"""Export a zoo member as a Hugging Face checkpoint: Mixtral format for the MoEs, Llama format for the
dense models, with the tokenizer. `transformers` loads the result with AutoModelForCausalLM and its logits
equal ours (tests/test_hf_export.py): the whole-model golden test against an independent implementation.

`python -m models.hf_export NAME OUT_DIR` (NAME: a zoo member).

Conversions: our fused qkv splits into q/k/v projections; our rotary embedding turns consecutive channel
pairs while transformers' turns the two halves of each head, so the q and k rows of every head are
permuted (as transformers' own Llama conversion script does); expert gate and up matrices fuse into
Mixtral's gate_up_proj. Only configurations both formats express exactly are exported (softmax router
with renormalised top-k, no capacity limit, no aux-free bias): anything else raises.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, MixtralConfig, MixtralForCausalLM, PreTrainedTokenizerFast

from corpus.tokenizer import EOS
from models.config import ModelConfig
from models.transformer import Transformer
from models.zoo import load_member, zoo_names
from paths import TOKENIZER


def _pairs_to_halves(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(H*Hd, D) rows of q or k from our pair-interleaved rotary layout to transformers' half-split one."""
    out, d = w.shape
    return w.view(n_heads, out // n_heads // 2, 2, d).transpose(1, 2).reshape(out, d)


def hf_config(cfg: ModelConfig) -> LlamaConfig | MixtralConfig:
    common = dict(vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, intermediate_size=cfg.d_ff, num_hidden_layers=cfg.n_layers,
                  num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_heads, max_position_embeddings=cfg.context_length,
                  rms_norm_eps=cfg.norm_eps, rope_theta=cfg.rope_theta, tie_word_embeddings=cfg.tie_embeddings, bos_token_id=0,
                  eos_token_id=0)
    if not cfg.is_moe:
        return LlamaConfig(**common, attention_bias=False, mlp_bias=False)
    if cfg.router not in ("softmax", "noisy") or not cfg.normalize_topk or cfg.capacity_factor is not None:
        raise ValueError("only a softmax router with renormalised top-k and no capacity limit has a Mixtral equivalent")
    return MixtralConfig(**common, num_local_experts=cfg.n_experts, num_experts_per_tok=cfg.top_k, router_jitter_noise=0.0,
                         sliding_window=None, output_router_logits=False)


def hf_state_dict(model: Transformer) -> dict[str, torch.Tensor]:
    cfg, ours = model.cfg, model.state_dict()
    d, h = cfg.d_model, cfg.n_heads
    out = {"model.embed_tokens.weight": ours["embed.weight"], "model.norm.weight": ours["norm.weight"]}
    out["lm_head.weight"] = ours["embed.weight"] if cfg.tie_embeddings else ours["head.weight"]
    for i in range(cfg.n_layers):
        ours_i, hf = f"blocks.{i}.", f"model.layers.{i}."
        q, k, v = ours[ours_i + "attn.qkv.weight"].split(d)
        out |= {hf + "self_attn.q_proj.weight": _pairs_to_halves(q, h), hf + "self_attn.k_proj.weight": _pairs_to_halves(k, h),
                hf + "self_attn.v_proj.weight": v, hf + "self_attn.o_proj.weight": ours[ours_i + "attn.proj.weight"],
                hf + "input_layernorm.weight": ours[ours_i + "attn_norm.weight"],
                hf + "post_attention_layernorm.weight": ours[ours_i + "ffn_norm.weight"]}
        if cfg.is_moe:
            experts = ours_i + "ffn.experts."
            out |= {hf + "mlp.gate.weight": ours[ours_i + "ffn.router.gate.weight"],
                    hf + "mlp.experts.gate_up_proj": torch.cat([ours[experts + "w_gate"], ours[experts + "w_up"]], dim=1),
                    hf + "mlp.experts.down_proj": ours[experts + "w_down"]}
        else:
            out |= {hf + "mlp.gate_proj.weight": ours[ours_i + "ffn.w_gate"], hf + "mlp.up_proj.weight": ours[ours_i + "ffn.w_up"],
                    hf + "mlp.down_proj.weight": ours[ours_i + "ffn.w_down"]}
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def to_hf(model: Transformer) -> LlamaForCausalLM | MixtralForCausalLM:
    """The same network as a transformers model (eval mode, eager attention)."""
    config = hf_config(model.cfg)
    config._attn_implementation = "eager"
    hf = (MixtralForCausalLM if model.cfg.is_moe else LlamaForCausalLM)(config).eval()
    missing, unexpected = hf.load_state_dict(hf_state_dict(model), strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise RuntimeError(f"weights do not map: missing {missing}, unexpected {unexpected}")
    if model.cfg.tie_embeddings:
        hf.tie_weights()
    return hf


def export(model: Transformer, out_dir: Path) -> None:
    """Write a transformers checkpoint (config.json, model.safetensors) and the tokenizer to out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    to_hf(model).save_pretrained(out_dir)
    PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER), eos_token=EOS, bos_token=EOS, unk_token=EOS).save_pretrained(out_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description="Export a zoo member as a Hugging Face checkpoint (Mixtral or Llama format).")
    parser.add_argument("name", choices=zoo_names())
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    export(load_member(args.name).model, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
