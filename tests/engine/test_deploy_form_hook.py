"""DeployFormHook: validation and testing run a folded copy of the backbone, equal to the
backbone as trained, and the trained weights stay the same objects with the same values."""
import types

import pytest
import torch
import torch.nn as nn
from reference import randomize_

from emo_mm.engine import DeployFormHook
from emo_mm.models import EMOv2

TINY = dict(depths=(1, 1, 2, 1), embed_dims=(16, 24, 40, 64), exp_ratios=(2.0, 2.0, 2.0, 2.0),
            head_dims=(8, 8, 8, 16))


class Detector(nn.Module):
    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone


def runner_of(model: nn.Module) -> types.SimpleNamespace:
    """What the hook reads of a runner: its model."""
    return types.SimpleNamespace(model=model)


@pytest.mark.parametrize('stage', ['val', 'test'])
def test_the_folded_copy_runs_and_the_trained_weights_stay(stage):
    torch.manual_seed(0)
    model = Detector(randomize_(EMOv2(TINY, window_size=7, out_indices=(2, 3, 4)))).eval()
    x = torch.randn(2, 3, 96, 80)
    with torch.no_grad():
        expected = model.backbone(x)
    params = [p for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hook, runner = DeployFormHook(), runner_of(model)
    getattr(hook, f'before_{stage}_epoch')(runner)
    assert 'forward' in vars(model.backbone)
    folded = model.backbone.forward.__self__
    assert folded is not model.backbone
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        got = model.backbone(x)
    for g, e in zip(got, expected):
        assert (g - e).abs().max() <= 1e-5 * e.abs().max()
    getattr(hook, f'after_{stage}_epoch')(runner)
    assert 'forward' not in vars(model.backbone)
    assert all(a is b for a, b in zip(model.parameters(), params))
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_each_validation_folds_the_weights_of_that_moment():
    torch.manual_seed(0)
    model = Detector(randomize_(EMOv2(TINY, out_indices=(4, )))).eval()
    hook, runner, x = DeployFormHook(), runner_of(model), torch.randn(1, 3, 64, 64)
    hook.before_val_epoch(runner)
    hook.after_val_epoch(runner)
    with torch.no_grad():                 # a training step between two validations
        for p in model.parameters():
            p.add_(0.01)
        expected = model.backbone(x)[0]
    hook.before_val_epoch(runner)
    with torch.no_grad():
        got = model.backbone(x)[0]
    hook.after_val_epoch(runner)
    assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_a_backbone_without_deploy_form_is_left_alone():
    model = Detector(nn.Conv2d(3, 4, 3))
    hook, runner = DeployFormHook(), runner_of(model)
    hook.before_val_epoch(runner)
    assert 'forward' not in vars(model.backbone)
    hook.after_val_epoch(runner)


def test_two_hooks_are_refused():
    model = Detector(EMOv2(TINY, out_indices=(4, ))).eval()
    first, second, runner = DeployFormHook(), DeployFormHook(), runner_of(model)
    first.before_val_epoch(runner)
    with pytest.raises(RuntimeError, match='two DeployFormHooks'):
        second.before_val_epoch(runner)
    first.after_val_epoch(runner)
