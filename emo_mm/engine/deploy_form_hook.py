"""Validation and testing in the backbone's deploy form: :class:`DeployFormHook` runs a folded
copy of the backbone (BatchNorm and LayerScale folded into convolutions, the same function in
eval mode, fewer ops) for every validation and test epoch, and the trained backbone again
after it. The training weights are never touched: the hook folds a copy, made after other hooks
(EMA) have put their weights in place, and only the backbone's ``forward`` is redirected, so
the parameters the optimizer, EMA and checkpoints see stay the same objects."""
from __future__ import annotations

import copy
from typing import Any, Optional

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from emo_mm.models import reparameterize


def has_deploy_form(module: nn.Module) -> bool:
    """Whether ``module`` holds parts that fold themselves (EMOv2 blocks)."""
    return any(callable(getattr(m, 'reparameterize', None)) for m in module.modules())


@HOOKS.register_module()
class DeployFormHook(Hook):
    """Run ``model.backbone`` in its deploy form during validation and testing.

    A backbone without foldable parts is left as it is (logged once). ``tools/train.py`` and
    ``tools/test.py`` add this hook unless ``--no-deploy-form`` is given.
    """

    # After EMA (NORMAL), so the copy folds the weights validation is meant to see.
    priority = 'LOW'

    def __init__(self) -> None:
        self._backbone: Optional[nn.Module] = None   # the one whose forward is redirected
        self._reported = False

    def _enter(self, runner: Any, loop: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        backbone = getattr(model, 'backbone', None)
        if backbone is None or not has_deploy_form(backbone):
            if not self._reported:
                print_log(f'{loop}: {type(backbone).__name__} runs as trained (it has no '
                          'deploy form)', 'current')
                self._reported = True
            return
        if 'forward' in vars(backbone):
            raise RuntimeError('DeployFormHook: the backbone already has its forward redirected '
                               '(two DeployFormHooks in custom_hooks?)')
        folded = reparameterize(copy.deepcopy(backbone))
        backbone.forward = folded.forward    # the bound method keeps the copy alive
        self._backbone = backbone
        if not self._reported:
            print_log(f'{loop}: deploy form of the backbone (BatchNorm and LayerScale folded '
                      'into a copy; --no-deploy-form runs it as trained)', 'current')
            self._reported = True

    def _leave(self) -> None:
        if self._backbone is not None:
            del self._backbone.forward           # back to the class's forward
        self._backbone = None

    def before_val_epoch(self, runner: Any) -> None:
        self._enter(runner, 'validation')

    def after_val_epoch(self, runner: Any, metrics: Optional[dict] = None) -> None:
        self._leave()

    def before_test_epoch(self, runner: Any) -> None:
        self._enter(runner, 'testing')

    def after_test_epoch(self, runner: Any, metrics: Optional[dict] = None) -> None:
        self._leave()
