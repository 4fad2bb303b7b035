"""BatchedRetinaHead against mmdet's RetinaHead: the same targets, exactly, and the same losses
and gradients to float rounding, on batches with the assigner's corner cases (an image without
objects, an object no anchor overlaps, identical objects, anchors outside the image)."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import emo_mm.det  # noqa: F401
from mmdet.registry import MODELS

TRAIN_CFG = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                               min_pos_iou=0, ignore_iof_thr=-1),
                 sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                 debug=False)


def heads(**train_cfg):
    init_default_scope('mmdet')
    cfg = dict(num_classes=4, in_channels=16, feat_channels=16, stacked_convs=1,
               anchor_generator=dict(type='AnchorGenerator', octave_base_scale=3,
                                     scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                     strides=[8, 16, 32]),
               train_cfg=ConfigDict({**TRAIN_CFG, **train_cfg}))
    torch.manual_seed(0)
    reference = MODELS.build(dict(type='RetinaHead', **cfg))
    batched = MODELS.build(dict(type='BatchedRetinaHead', **cfg))
    batched.load_state_dict(reference.state_dict())
    return reference, batched


def batch():
    """Three 64x64 images (the third 48x64 inside its 64x64 padding)."""
    boxes = [
        torch.tensor([[4., 4., 30., 28.], [30., 20., 60., 60.], [30., 20., 60., 60.],
                      [40., 2., 41.5, 3.]]),    # identical pair; one box too small for any anchor
        torch.zeros(0, 4),                      # no objects
        torch.tensor([[10., 10., 40., 30.], [0., 30., 20., 47.]]),
    ]
    gts = [InstanceData(bboxes=b, labels=torch.arange(len(b)) % 4) for b in boxes]
    metas = [dict(img_shape=(64, 64), pad_shape=(64, 64)),
             dict(img_shape=(64, 64), pad_shape=(64, 64)),
             dict(img_shape=(48, 64), pad_shape=(64, 64))]
    return gts, metas


def outputs(head, seed=1):
    torch.manual_seed(seed)
    feats = [torch.randn(3, 16, 64 // s, 64 // s) for s in (8, 16, 32)]
    return head(feats)


def reference_targets(head, cls_scores, gts, metas):
    sizes = [s.shape[-2:] for s in cls_scores]
    anchors, flags = head.get_anchors(sizes, metas, device='cpu')
    labels, label_w, box_t, box_w, avg = head.get_targets(anchors, flags, gts, metas)
    return [torch.cat(t, 1) for t in (labels, label_w, box_t, box_w)] + [avg]


@pytest.mark.parametrize('train_cfg', [dict(), dict(allowed_border=0, pos_weight=2.0),
                                       dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                                                          neg_iou_thr=(0.1, 0.4),
                                                          min_pos_iou=0.2))])
def test_targets_equal_mmdet_per_image_targets(train_cfg):
    reference, batched = heads(**train_cfg)
    assert batched.per_image_reason is None
    gts, metas = batch()
    cls_scores, _ = outputs(reference)
    expected = reference_targets(reference, cls_scores, gts, metas)
    sizes = [s.shape[-2:] for s in cls_scores]
    anchors = torch.cat(batched.prior_generator.grid_priors(sizes, device='cpu'))
    valid = batched._valid_anchors(anchors, sizes, metas, 'cpu')
    got = batched._batch_targets(anchors, valid, gts)
    for name, e, g in zip(('labels', 'label weights', 'box targets', 'box weights'),
                          expected, got):
        assert torch.equal(e, g), name
    assert got[-1] == expected[-1] > 0


def test_losses_and_gradients_equal_mmdet_head():
    reference, batched = heads()
    gts, metas = batch()
    results = []
    for head in (reference, batched):
        cls_scores, bbox_preds = outputs(head)
        losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
        total = {k: sum(v) if isinstance(v, list) else v for k, v in losses.items()}
        sum(total.values()).backward()
        grads = {n: p.grad.clone() for n, p in head.named_parameters()}
        results.append((total, grads))
    (ref_losses, ref_grads), (losses, grads) = results
    for key in ('loss_cls', 'loss_bbox'):
        torch.testing.assert_close(losses[key], ref_losses[key], rtol=1e-5, atol=1e-7)
        assert ref_losses[key] > 0
    for name in ref_grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-4, atol=1e-7)


def test_other_training_settings_take_the_per_image_path():
    _, batched = heads(sampler=dict(type='RandomSampler', num=32, pos_fraction=0.5))
    assert batched.per_image_reason == 'sampler RandomSampler'
    gts, metas = batch()
    cls_scores, bbox_preds = outputs(batched)
    losses = batched.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    assert isinstance(losses['loss_cls'], list)    # mmdet's per-level losses
