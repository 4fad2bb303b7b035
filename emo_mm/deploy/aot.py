"""Ahead-of-time compiled inference: ``torch.export`` + AOTInductor.

The deploy form (:func:`~emo_mm.deploy.reparameterize`) is exported for one input shape and
compiled by AOTInductor into a ``.pt2`` package: a shared library whose C++ wrapper calls the
fused kernels with no Python or guard checks in between, and whose 1x1 convolutions run as
oneDNN matmuls on pre-packed weights. It computes the same function as the eager model.

    >>> runner = export_aot(model, torch.randn(1, 3, 224, 224), 'work_dirs/emov2_5m.pt2')
    >>> feats = runner(image_batch)          # later: load_aot('work_dirs/emov2_5m.pt2')
"""
import os
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn as nn

from emo_mm.models import EMOv2, reparameterize

_SHAPE_KEY = 'emo_mm.input_shape'
_FORMAT_KEY = 'emo_mm.channels_last'


class AotModel:
    """A loaded AOTInductor package. The compiled code assumes the exact input shape and
    memory layout it was exported with, and does not check them itself: this wrapper does
    (a clear error instead of wrong numbers) and lays the input out as expected."""

    def __init__(self, package_path: Union[str, Path]) -> None:
        path = Path(package_path)
        if not path.is_file():
            raise FileNotFoundError(f'no AOTInductor package at {path}')
        self.runner = torch._inductor.aoti_load_package(str(path))
        meta = self.runner.get_metadata()
        if _SHAPE_KEY not in meta:
            raise ValueError(f'{path} was not written by emo_mm.deploy.export_aot '
                             f'(its metadata lacks {_SHAPE_KEY!r})')
        self.input_shape: Tuple[int, ...] = tuple(int(s) for s in meta[_SHAPE_KEY].split(','))
        self.channels_last = meta.get(_FORMAT_KEY) == '1'
        self.metadata: Dict[str, str] = dict(meta)
        self.package_path = path

    def __call__(self, x: torch.Tensor):
        if tuple(x.shape) != self.input_shape:
            raise ValueError(f'{self.package_path.name} was compiled for inputs of shape '
                             f'{self.input_shape}, got {tuple(x.shape)}; export again with an '
                             'example of the new shape')
        if x.dtype != torch.float32 or x.device.type != 'cpu':
            raise ValueError(f'{self.package_path.name} takes float32 CPU inputs, got '
                             f'{x.dtype} on {x.device}')
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        out = self.runner(x.contiguous(memory_format=fmt))
        return tuple(out) if isinstance(out, (list, tuple)) else out


def export_aot(model: nn.Module, example: torch.Tensor, package_path: Union[str, Path],
               fold: bool = True, metadata: Optional[Dict[str, str]] = None) -> AotModel:
    """Compile ``model`` (inference only) for inputs shaped like ``example`` into an
    AOTInductor package at ``package_path``, and return it loaded.

    Args:
        model: an EMOv2 backbone or a model holding one, taking one image tensor.
        example: a float32 CPU input of the shape to compile for (batch included).
        package_path: where to write the ``.pt2`` package (parent folders are created).
        fold: reparameterise first (:func:`reparameterize`, in place); pass False for a
            model already folded or one without EMOv2 blocks.
        metadata: extra string entries stored in the package (``AotModel.metadata``).
    """
    if example.dtype != torch.float32 or example.device.type != 'cpu':
        raise ValueError(f'export_aot compiles for float32 CPU inputs, got {example.dtype} '
                         f'on {example.device}')
    if fold:
        reparameterize(model)
    model.eval()
    # The compiled code assumes the example's strides: give it the layout the backbone uses.
    channels_last = example.dim() == 4 and any(
        isinstance(m, EMOv2) and m.channels_last for m in model.modules())
    if channels_last:
        example = example.contiguous(memory_format=torch.channels_last)
    path = Path(package_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Compile next to the target and rename at the end: a failed export leaves an
    # existing package at ``path`` as it was.
    partial = path.with_name(f'.{path.stem}.partial-{os.getpid()}.pt2')
    try:
        with torch.no_grad():
            program = torch.export.export(model, (example, ))
            torch._inductor.aoti_compile_and_package(
                program, package_path=str(partial),
                inductor_configs={
                    'freezing': True,      # weights become constants: pre-packed, folded
                    'aot_inductor.metadata': {
                        **(metadata or {}),
                        _SHAPE_KEY: ','.join(str(s) for s in example.shape),
                        _FORMAT_KEY: str(int(channels_last)),
                    },
                })
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return AotModel(path)


def load_aot(package_path: Union[str, Path]) -> AotModel:
    """Load a package written by :func:`export_aot`."""
    return AotModel(package_path)
