# The RetinaNet demo with MobileNetV3-Large in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../retinanet_emov2_1m_shapes.py'

model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.MobileNetV3', arch='large',
                  out_indices=(6, 12, 15)),
    neck=dict(in_channels=[40, 112, 160]))
