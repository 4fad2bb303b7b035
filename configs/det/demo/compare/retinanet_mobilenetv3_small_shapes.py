# The RetinaNet demo with MobileNetV3-Small in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../retinanet_emov2_1m_shapes.py'

model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.MobileNetV3', arch='small',
                  out_indices=(2, 7, 11)),
    neck=dict(in_channels=[24, 48, 96]))
