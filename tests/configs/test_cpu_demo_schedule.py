"""The CPU demos' optimizer (configs/_base_/schedules/cpu_demo.py) runs AdamW's multi-tensor
(foreach) update: it must give the for-loop update's numbers bit for bit on the demo
detector's parameter groups, so the switch changes speed only."""
import copy

import torch
from helpers import REPO_ROOT
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import emo_mm.det  # noqa: F401
from mmdet.registry import MODELS


def test_foreach_adamw_equals_the_for_loop_bit_for_bit():
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/det/demo/retinanet_emov2_1m_shapes.py'))
    assert cfg.optim_wrapper.optimizer.foreach is True
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    models = {name: copy.deepcopy(model) for name in ('foreach', 'loop')}
    wrappers = {}
    for name, net in models.items():
        wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
        wrapper_cfg.optimizer.foreach = name == 'foreach'
        wrappers[name] = build_optim_wrapper(net, wrapper_cfg)
    groups = wrappers['foreach'].optimizer.param_groups
    assert len({g['weight_decay'] for g in groups}) > 1  # decayed and undecayed groups
    for step in range(3):
        for name, net in models.items():
            generator = torch.Generator().manual_seed(step)
            for param in net.parameters():
                param.grad = torch.randn(param.shape, generator=generator)
            wrappers[name].step()
    pairs = zip(models['foreach'].parameters(), models['loop'].parameters())
    assert all(torch.equal(a, b) for a, b in pairs)
    assert not torch.equal(next(model.parameters()), next(models['loop'].parameters()))
