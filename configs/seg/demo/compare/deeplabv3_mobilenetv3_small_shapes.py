# The DeepLabv3 demo with MobileNetV3-Small in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../deeplabv3_emov2_1m_shapes.py'

model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.MobileNetV3', arch='small',
                  out_indices=(2, 7)),
    decode_head=dict(in_channels=48),
    auxiliary_head=dict(in_channels=24))
