# The classifier demo with EfficientFormer-L1 in place of EMOv2-1M: same data, schedule and
# augmentation, trained from scratch. Compared by tools/analysis/compare_backbones.py
# (docs/comparison.md).
_base_ = '../emov2_1m_shapes.py'
custom_imports = dict(imports=['emo_mm', 'emo_mm.cls', 'emo_mm.engine', 'emo_mm.models.peers'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='EfficientFormerAnySize', arch='l1', reshape_last_feat=True,
                  out_indices=(3,)),
    head=dict(in_channels=448))
