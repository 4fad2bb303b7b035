"""Hooks the end-to-end tests put into training runs (configs import ``probe_hooks``)."""
import json
import os

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


class _LossRecorder(Hook):
    """Keeps the loss of every training iteration in ``self.losses``."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.losses.append(float(outputs['loss']))

    @staticmethod
    def bare_model(runner):
        """The runner's model without its DDP wrapper."""
        return runner.model.module if hasattr(runner.model, 'module') else runner.model


@HOOKS.register_module()
class RankProbeHook(_LossRecorder):
    """Every rank records the loss of each of its iterations and, at the end, its weights,
    in ``$RANK_PROBE_DIR/rank<r>.pt`` (outside the work_dir, which only rank 0 writes)."""

    def after_train(self, runner) -> None:
        model = self.bare_model(runner)
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


def _tensor_leaves(outputs) -> list:
    """Every tensor in a (nested) tuple / list / dict of model outputs."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [leaf for item in outputs for leaf in _tensor_leaves(item)]
    return []


def _between_over_within(leaves: list, count: int) -> float:
    between = within = 0.0
    for leaf in leaves:
        if leaf.dim() == 0 or leaf.shape[0] != count:
            continue
        rows = leaf.double().reshape(count, -1)
        between += float(rows.var(dim=0, unbiased=False).sum())
        within += float(rows.var(dim=1, unbiased=False).mean()) * rows.shape[1]
    assert within > 0, 'no per-image outputs to compare'
    return (between / within)**0.5


def input_dependence(model, data_batch: dict) -> dict:
    """How much the backbone's feature maps (``features``) and the raw outputs (``outputs``,
    ``mode='tensor'``: logits, box deltas; for two-stage detectors also the RPN's) of the
    model in eval mode, as it predicts, differ between the images of ``data_batch``, relative
    to how much they vary within one image: the root of (sum over elements of the variance
    across images) over (the same sum of the variance within an image). ~0 means the model
    ignores its input. Only tensors with one row per image count (not Mask R-CNN's pooled
    RoIs)."""
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(data_batch, False)
        count = len(data['inputs'])
        assert count >= 2, 'need a validation batch of at least 2 images'
        features = model.backbone(data['inputs'])
        outputs = [model(data['inputs'], data['data_samples'], mode='tensor')]
        if getattr(model, 'rpn_head', None) is not None:
            outputs.append(model.rpn_head(model.extract_feat(data['inputs'])))
    return dict(features=_between_over_within(_tensor_leaves(features), count),
                outputs=_between_over_within(_tensor_leaves(outputs), count))


@HOOKS.register_module()
class LearningProbeHook(_LossRecorder):
    """Records the loss of every training iteration and, after training, the
    :func:`input_dependence` of the model on the first validation batch; writes both to
    ``<work_dir>/learning_probe.json``."""

    def after_train(self, runner) -> None:
        model = self.bare_model(runner)
        dependence = input_dependence(model, next(iter(runner.val_dataloader)))
        with open(os.path.join(runner.work_dir, 'learning_probe.json'), 'w') as f:
            json.dump(dict(losses=self.losses, input_dependence=dependence), f)
