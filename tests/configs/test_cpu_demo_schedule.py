"""The CPU demos' optimizer (configs/_base_/schedules/cpu_demo.py): AdamW's fused update over
param groups merged by their options (emo_mm.engine.MergedGroupsOptimWrapperConstructor). It
must give the numbers of mmengine's default (one group per parameter, for-loop update) to float
rounding, also where a gradient's memory layout differs from its weight's."""
import copy

import torch
from helpers import REPO_ROOT
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import emo_mm.det  # noqa: F401
import emo_mm.engine  # noqa: F401
from emo_mm.engine.optim_constructor import align_grad_layouts, merge_param_groups
from mmdet.registry import MODELS


def _demo_config() -> Config:
    return Config.fromfile(str(REPO_ROOT / 'configs/det/demo/retinanet_emov2_1m_shapes.py'))


def test_fused_adamw_on_merged_groups_equals_the_per_parameter_for_loop():
    cfg = _demo_config()
    assert cfg.optim_wrapper.optimizer.fused is True
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    models = {name: copy.deepcopy(model) for name in ('demo', 'default')}
    wrappers = {'demo': build_optim_wrapper(models['demo'], copy.deepcopy(cfg.optim_wrapper))}
    default_cfg = copy.deepcopy(cfg.optim_wrapper)
    default_cfg.constructor = 'DefaultOptimWrapperConstructor'
    default_cfg.optimizer.update(fused=False, foreach=False)
    wrappers['default'] = build_optim_wrapper(models['default'], default_cfg)
    demo_groups = wrappers['demo'].optimizer.param_groups
    assert len(wrappers['default'].optimizer.param_groups) == len(list(model.parameters()))
    assert sorted(g['weight_decay'] for g in demo_groups) == [0.0, 0.05]  # norms/biases, rest
    # Gradients made by torch.randn are contiguous: the backbone's channels-last weights
    # then have gradients of another layout, which the fused kernel alone would mix up.
    assert any(p.ndim == 4 and not p.is_contiguous() for p in model.parameters())
    for step in range(3):
        for name, net in models.items():
            generator = torch.Generator().manual_seed(step)
            for param in net.parameters():
                param.grad = torch.randn(param.shape, generator=generator)
            wrappers[name].step()
    for a, b in zip(models['demo'].parameters(), models['default'].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(next(model.parameters()), next(models['default'].parameters()))


def test_merge_param_groups_keeps_distinct_options_apart_and_the_order():
    p = [torch.nn.Parameter(torch.zeros(1)) for _ in range(5)]
    groups = [dict(params=[p[0]], lr=1.0, weight_decay=0.1),
              dict(params=[p[1]], lr=1.0, weight_decay=0.0),
              dict(params=[p[2]], lr=1.0, weight_decay=0.1),
              dict(params=[p[3]], lr=0.1, weight_decay=0.1),
              dict(params=[p[4]], lr=1.0, weight_decay=0.0)]
    merged = merge_param_groups(groups)
    assert [(g['lr'], g['weight_decay']) for g in merged] == [(1.0, 0.1), (1.0, 0.0), (0.1, 0.1)]
    assert [[id(t) for t in g['params']] for g in merged] == [
        [id(p[0]), id(p[2])], [id(p[1]), id(p[4])], [id(p[3])]]


def test_align_grad_layouts_gives_gradients_their_parameters_strides():
    weight = torch.nn.Parameter(torch.randn(4, 3, 2, 2).contiguous(memory_format=torch.channels_last))
    bias = torch.nn.Parameter(torch.randn(4))
    grad = torch.randn(4, 3, 2, 2)
    weight.grad, bias.grad = grad.clone(), torch.randn(4)
    bias_grad = bias.grad
    optimizer = torch.optim.AdamW([weight, bias], fused=True)
    align_grad_layouts(optimizer)
    assert weight.grad.stride() == weight.stride() and torch.equal(weight.grad, grad)
    assert bias.grad is bias_grad  # already aligned: not copied
