"""Testing in low precision: ``tools/test.py --precision {bf16,int8}`` adds
:class:`InferencePrecisionHook`, which swaps the loaded model's backbone for its deploy form in
bfloat16 or int8 before the test loop runs. Neck and heads stay float32; the checkpoint and the
training weights are untouched (the hook folds a copy)."""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from emo_mm.deploy.precision import Bf16Model, check_precision, quantize_int8
from emo_mm.models import reparameterize


class Int8PerShape(nn.Module):
    """A folded backbone quantized to int8 once per input size it meets: image by image, each
    ``(1, C, H, W)`` size gets its own PT2E graph (the graph fixes the size), calibrated on
    ``calibration`` images resized to it. Returns what the backbone returns, batched again."""

    def __init__(self, folded: nn.Module, calibration: List[torch.Tensor]) -> None:
        super().__init__()
        self.folded = folded
        self.calibration = calibration          # (1, C, h, w) images, sizes may differ
        self.graphs: Dict[Tuple[int, ...], nn.Module] = {}

    def graph_for(self, shape: Tuple[int, ...]) -> nn.Module:
        if shape not in self.graphs:
            images = [F.interpolate(image, size=shape[2:], mode='bilinear', align_corners=False)
                      if image.shape != shape else image for image in self.calibration]
            self.graphs[shape] = quantize_int8(copy.deepcopy(self.folded), images[0], images)
        return self.graphs[shape]

    def forward(self, x: torch.Tensor) -> Any:
        outputs = [self.graph_for(tuple(image.shape))(image) for image in x.split(1)]
        if isinstance(outputs[0], torch.Tensor):
            return torch.cat(outputs)
        return type(outputs[0])(torch.cat(parts) for parts in zip(*outputs))


def calibration_images(loader_cfg: Optional[dict], data_preprocessor: nn.Module,
                       num_images: int) -> List[torch.Tensor]:
    """``num_images`` training images (``loader_cfg``: the config's train_dataloader, its
    pipeline included; fewer if the set is smaller), normalised by the model's
    ``data_preprocessor``, one ``(1, C, H, W)`` float32 tensor each. Build it under the
    config's default scope."""
    if not loader_cfg:
        raise ValueError('int8 calibration reads training images, but the config has no '
                         'train_dataloader')
    loader = Runner.build_dataloader(copy.deepcopy(loader_cfg))
    images: List[torch.Tensor] = []
    with torch.no_grad():
        for data in loader:
            inputs = data_preprocessor(data, training=False)['inputs']
            images += list(inputs.float().split(1))
            if len(images) >= num_images:
                break
    return images[:num_images]


@HOOKS.register_module()
class InferencePrecisionHook(Hook):
    """Before testing, run the backbone's deploy form in ``precision``: ``'bf16'`` (bfloat16
    weights and activations) or ``'int8'`` (PT2E static quantization calibrated on
    ``calib_images`` training images, per input size; evaluated in eager, where quantize /
    dequantize pairs give the int8 kernels' numbers, image by image)."""

    priority = 'LOW'

    def __init__(self, precision: str = 'bf16', calib_images: int = 256) -> None:
        check_precision(precision)
        if precision == 'fp32':
            raise ValueError("InferencePrecisionHook is for 'bf16' or 'int8'; float32 needs no hook")
        if calib_images < 1:
            raise ValueError(f'calib_images must be >= 1, got {calib_images}')
        self.precision = precision
        self.calib_images = calib_images

    def before_test(self, runner: Any) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'backbone'):
            raise ValueError(f'--precision {self.precision} converts model.backbone, and '
                             f'{type(model).__name__} has none')
        backbone = reparameterize(copy.deepcopy(model.backbone))
        if self.precision == 'bf16':
            model.backbone = Bf16Model(backbone)
        else:
            images = calibration_images(runner.cfg.get('train_dataloader'),
                                        model.data_preprocessor, self.calib_images)
            model.backbone = Int8PerShape(backbone, images)
            print_log(f'int8: calibrating on {len(images)} training images, once per input size',
                      'current')
        print_log(f'testing the backbone in {self.precision} (deploy form); neck and heads in '
                  'float32', 'current')
