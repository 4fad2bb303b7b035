"""Mixed precision training on CPUs: ``tools/train.py --amp`` without a GPU selects
:class:`CpuBf16OptimWrapper` (mmengine's ``AmpOptimWrapper`` trains on accelerators only).

bfloat16 keeps float32's exponent range, so there is no loss scaling: the forward pass and the
loss run under ``torch.autocast('cpu', dtype=torch.bfloat16)``; weights, gradients and optimizer
state stay float32. Checkpoints are those of a float32 run and load into one.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

from emo_mm.deploy.precision import FAST_FLAGS, cpu_flags


def cpu_has_bf16() -> bool:
    """Whether this CPU has instructions that compute in bfloat16 (AMX or AVX-512 BF16)."""
    return bool(set(cpu_flags()) & set(FAST_FLAGS['bf16']))


@OPTIM_WRAPPERS.register_module()
class CpuBf16OptimWrapper(OptimWrapper):
    """:class:`~mmengine.optim.OptimWrapper` whose forward and loss run in CPU bfloat16
    autocast; float32 master weights and optimizer state, no loss scale."""

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield
