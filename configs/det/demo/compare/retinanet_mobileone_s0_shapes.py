# The RetinaNet demo with MobileOne-S0 in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../retinanet_emov2_1m_shapes.py'

model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.MobileOne', arch='s0',
                  out_indices=(1, 2, 3)),
    neck=dict(in_channels=[128, 256, 1024]))
