"""Hooks the end-to-end tests put into training runs (configs import ``probe_hooks``)."""
import os

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankProbeHook(Hook):
    """Every rank records the loss of each of its iterations and, at the end, its weights,
    in ``$RANK_PROBE_DIR/rank<r>.pt`` (outside the work_dir, which only rank 0 writes)."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.losses.append(float(outputs['loss']))

    def after_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        out_dir = os.environ['RANK_PROBE_DIR']
        os.makedirs(out_dir, exist_ok=True)
        torch.save(dict(losses=self.losses, world_size=runner.world_size,
                        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()}),
                   os.path.join(out_dir, f'rank{get_rank()}.pt'))


@HOOKS.register_module()
class BulkyCheckpointHook(Hook):
    """Pads every checkpoint with ``megabytes`` of zeros, so that writing it takes long
    enough for a test to kill the process in the middle of the save."""

    def __init__(self, megabytes: int = 256) -> None:
        self.numel = megabytes * 2**20 // 4

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['padding'] = torch.zeros(self.numel)
