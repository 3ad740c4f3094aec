"""Reading what one module receives during one forward call, safely on a model that other requests share.

A forward pre-hook on a shared module sees every thread's calls; `captured_inputs` keeps only those made by the
calling thread (a request's forward runs in one thread), and removes its hook before returning, so concurrent
requests neither see nor disturb each other's captures.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import nn


def captured_inputs(module: nn.Module, run: Callable[[], object]) -> tuple[object, list[torch.Tensor]]:
    """-> (run()'s result, the first positional input of every call of `module` made by this thread during run())."""
    me, inputs = threading.get_ident(), []

    def keep(_, args) -> None:
        if threading.get_ident() == me:
            inputs.append(args[0])

    handle = module.register_forward_pre_hook(keep)
    try:
        return run(), inputs
    finally:
        handle.remove()
