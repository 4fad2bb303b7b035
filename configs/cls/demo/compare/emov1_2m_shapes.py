# The classifier demo with EMOv1-2M in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../emov2_1m_shapes.py'

model = dict(backbone=dict(arch='emov1_2m'), head=dict(in_channels=200))
