"""Tiny random Hugging Face checkpoints of every family the real-model loader supports (the registry's `tiny`
fields, models/hf_families.py) and two dense twins, made with transformers on the spot (nothing downloaded),
with this project's tokenizer, saved as a hub model would be. Every parameter and buffer is drawn at random,
so selection biases and router biases are non-zero where a family has them."""
import torch
import transformers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

from corpus.tokenizer import EOS
from paths import TOKENIZER

from models.hf_families import FAMILIES as MOE_FAMILIES

COMMON = dict(vocab_size=4096, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, tie_word_embeddings=False)
DENSE = {  # dense twins
    "llama": (transformers.LlamaConfig, dict(intermediate_size=48)),
    "qwen2": (transformers.Qwen2Config, dict(intermediate_size=48)),
}
FAMILIES = {f.model_type: (getattr(transformers, f.config_class), f.tiny if f.tiny_is_complete else {**COMMON, **f.tiny})
            for f in MOE_FAMILIES.values()} | {name: (cls, {**COMMON, **fields}) for name, (cls, fields) in DENSE.items()}


def make_checkpoint(directory, family: str):
    """A tiny random checkpoint with the project's tokenizer, saved as a hub model would be."""
    config_class, fields = FAMILIES[family]
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_config(config_class(**fields))
    with torch.no_grad():
        for p in model.parameters():  # transformers leaves some routers at zero: make every choice matter
            p.normal_(0, 0.2)
        for name, b in model.named_buffers():  # selection biases (DeepSeek-V3's e_score_correction_bias, LFM2's)
            if "bias" in name and b.is_floating_point():
                b.normal_(0, 0.2)
    model.save_pretrained(directory)
    PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER), eos_token=EOS, bos_token=EOS).save_pretrained(directory)
    return directory


