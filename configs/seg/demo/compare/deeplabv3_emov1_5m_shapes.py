# The DeepLabv3 demo with EMOv1-5M in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../deeplabv3_emov2_1m_shapes.py'

model = dict(
    backbone=dict(arch='emov1_5m'),
    decode_head=dict(in_channels=160),
    auxiliary_head=dict(in_channels=72))
