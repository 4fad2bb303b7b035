"""FixedSSDHead's shared-level option: one set of convs serves every level, and the setups
where sharing would be wrong are refused with a message."""
import pytest
import torch

import emo_mm.det  # noqa: F401
from mmdet.registry import MODELS
from mmengine.registry import init_default_scope

GN = dict(type='GN', num_groups=4, requires_grad=True)


def head(**kwargs):
    init_default_scope('mmdet')
    cfg = dict(type='FixedSSDHead', num_classes=3, in_channels=(16, 16, 16), use_depthwise=True,
               norm_cfg=GN, act_cfg=dict(type='ReLU6'),
               anchor_generator=dict(type='SSDAnchorGenerator', scale_major=False,
                                     strides=[8, 16, 32], ratios=[[2], [2], [2]],
                                     min_sizes=[8, 16, 32], max_sizes=[16, 32, 64]),
               bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                               target_stds=[0.1, 0.1, 0.2, 0.2]))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_shared_levels_use_one_set_of_weights_that_learns_from_every_level():
    shared, separate = head(share_levels=True), head()
    count = lambda m: sum(p.numel() for p in m.parameters())   # noqa: E731
    assert count(separate) == 3 * count(shared)
    assert all(conv is shared.cls_convs[0] for conv in shared.cls_convs)
    feats = [torch.randn(2, 16, s, s) for s in (8, 4, 2)]
    cls_scores, bbox_preds = shared(feats)
    assert [tuple(c.shape) for c in cls_scores] == [(2, 4 * 4, s, s) for s in (8, 4, 2)]
    # A loss on the last level alone reaches the shared weights.
    (cls_scores[-1].sum() + bbox_preds[-1].sum()).backward()
    assert shared.cls_convs[0][-1].weight.grad.abs().sum() > 0


def test_shared_levels_refuse_batchnorm_and_unequal_levels():
    with pytest.raises(ValueError, match='GroupNorm'):
        head(share_levels=True, norm_cfg=dict(type='BN'))
    with pytest.raises(ValueError, match='same in_channels'):
        head(share_levels=True, in_channels=(16, 32, 16))
