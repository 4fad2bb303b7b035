# The DeepLabv3 demo with EdgeNeXt-XS in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../deeplabv3_emov2_1m_shapes.py'

model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.EdgeNeXt', arch='xsmall',
                  gap_before_final_norm=False,
                  out_indices=(1, 2)),
    decode_head=dict(in_channels=100),
    auxiliary_head=dict(in_channels=64))
