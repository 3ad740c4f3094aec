"""The networks: config, attention, the shared dense/MoE backbone, the MoE layer, experts and their
dispatch backends, CPU product tuning (products.py), parameter/FLOP accounting (params.py, the one
derivation), safetensors checkpoints, the zoo, generation.

Never imports training, the backend, the lab, the page or the views; never reads a setting from a global."""
