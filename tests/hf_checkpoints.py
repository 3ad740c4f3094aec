"""Tiny random Hugging Face checkpoints of every family the real-model loader supports, made with transformers
on the spot (nothing downloaded), with this project's tokenizer, saved as a hub model would be."""
import torch
import transformers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

from corpus.tokenizer import EOS
from paths import TOKENIZER

COMMON = dict(vocab_size=4096, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, tie_word_embeddings=False)
FAMILIES = {
    "mixtral": (transformers.MixtralConfig, dict(intermediate_size=16, num_local_experts=4, num_experts_per_tok=2)),
    "qwen2_moe": (transformers.Qwen2MoeConfig, dict(intermediate_size=48, moe_intermediate_size=16, num_experts=4,
                                                    num_experts_per_tok=2, shared_expert_intermediate_size=24,
                                                    norm_topk_prob=False)),
    "qwen3_moe": (transformers.Qwen3MoeConfig, dict(intermediate_size=48, moe_intermediate_size=16, num_experts=6,
                                                    num_experts_per_tok=2, norm_topk_prob=True, mlp_only_layers=[1],
                                                    head_dim=8)),
    "olmoe": (transformers.OlmoeConfig, dict(intermediate_size=16, num_experts=8, num_experts_per_tok=3, norm_topk_prob=False)),
    "granitemoe": (transformers.GraniteMoeConfig, dict(intermediate_size=16, num_local_experts=4, num_experts_per_tok=2,
                                                       embedding_multiplier=3.0, residual_multiplier=0.5,
                                                       attention_multiplier=0.2, logits_scaling=2.0)),
    "llama": (transformers.LlamaConfig, dict(intermediate_size=48)),
    "qwen2": (transformers.Qwen2Config, dict(intermediate_size=48)),
}


def make_checkpoint(directory, family: str):
    """A tiny random checkpoint with the project's tokenizer, saved as a hub model would be."""
    config_class, fields = FAMILIES[family]
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_config(config_class(**COMMON, **fields))
    with torch.no_grad():
        for p in model.parameters():  # transformers leaves some routers at zero: make every choice matter
            p.normal_(0, 0.2)
    model.save_pretrained(directory)
    PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER), eos_token=EOS, bos_token=EOS).save_pretrained(directory)
    return directory


