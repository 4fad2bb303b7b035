# The DeepLabv3 demo with MobileNetV2 (1.0x) in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../deeplabv3_emov2_1m_shapes.py'

model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.MobileNetV2', widen_factor=1.0,
                  out_indices=(2, 4)),
    decode_head=dict(in_channels=96),
    auxiliary_head=dict(in_channels=32))
