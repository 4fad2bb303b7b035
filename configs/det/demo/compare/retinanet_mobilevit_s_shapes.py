# The RetinaNet demo with MobileViT-S in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../retinanet_emov2_1m_shapes.py'

model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.MobileViT', arch='small',
                  out_indices=(2, 3, 4)),
    neck=dict(in_channels=[96, 128, 640]))
