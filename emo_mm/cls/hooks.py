"""EMA hook that also loads bare state dicts (official EMOv2 ``.pth`` files)."""
from mmpretrain.engine.hooks import EMAHook
from mmpretrain.registry import HOOKS

from emo_mm.checkpoint import strip_module_prefix


@HOOKS.register_module()
class CompatEMAHook(EMAHook):
    """mmpretrain's :class:`EMAHook` (``evaluate_on_ema`` / ``evaluate_on_origin``) that
    also accepts a checkpoint without a ``state_dict`` entry.

    mmengine's runner loads such a file as a bare state dict, but mmpretrain's hook reads
    ``checkpoint['state_dict']`` and fails with ``KeyError`` (``tools/test.py CONFIG
    EMOv2_5M_224.pth``, or ``load_from`` an official file). Here the bare dict is used
    for the EMA copy too, with DDP ``module.`` prefixes removed as the runner does.
    """

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'state_dict' not in checkpoint and 'ema_state_dict' not in checkpoint:
            checkpoint = dict(state_dict=strip_module_prefix(checkpoint))
        super().after_load_checkpoint(runner, checkpoint)
