# The classifier demo with MobileViT-XS in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../emov2_1m_shapes.py'

model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.MobileViT', arch='x_small',
                  out_indices=(4,)),
    head=dict(in_channels=384))
