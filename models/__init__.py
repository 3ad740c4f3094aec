"""Models: config, the shared dense/MoE backbone, experts and dispatch, generation, checkpoints,
parameter accounting."""
