# DeepLabv3 with an EMOv2 backbone on ADE20K, 80k iterations. The backbone is not dilated: the
# ASPP head runs on stage 4 (stride 32), the auxiliary FCN head (loss weight 0.4) on stage 3.
# Per-size files set arch, checkpoint and the two head input widths.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    './emov2_ade20k.py',
    './schedule_emov2_80k.py',
]

model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    pretrained=None,
    backbone=dict(_delete_=True, **_base_.emov2_backbone),
    decode_head=dict(in_channels=288, channels=256, num_classes=150),
    auxiliary_head=dict(in_channels=160, num_classes=150))
