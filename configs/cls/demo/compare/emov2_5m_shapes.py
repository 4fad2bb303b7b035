# The classifier demo with EMOv2-5M in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../emov2_1m_shapes.py'

model = dict(backbone=dict(arch='5m'), head=dict(in_channels=288))
