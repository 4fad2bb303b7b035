# Semantic FPN with an EMOv2 backbone on ADE20K, 160k iterations: FPN (256 channels) over the
# four stages (strides 4-32), FPNHead with 128 channels. Per-size files set arch, checkpoint
# and the FPN input widths.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    './emov2_ade20k.py',
    './schedule_emov2_160k.py',
]

model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    pretrained=None,
    backbone=dict(_delete_=True, **_base_.emov2_backbone),
    neck=dict(in_channels=[48, 72, 160, 288]),
    decode_head=dict(num_classes=150))
