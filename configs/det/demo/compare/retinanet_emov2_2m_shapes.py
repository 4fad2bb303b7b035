# The RetinaNet demo with EMOv2-2M in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../retinanet_emov2_1m_shapes.py'

model = dict(backbone=dict(arch='2m'), neck=dict(in_channels=[48, 120, 200]))
