# SegFormer's all-MLP head over the four EMOv2 stages on ADE20K, 160k iterations. Per-size files
# set arch, checkpoint, the head input widths and the head width (180 for 1M, 288 otherwise).
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    './emov2_ade20k.py',
    './schedule_emov2_160k.py',
]

model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    backbone=dict(_delete_=True, **_base_.emov2_backbone),
    decode_head=dict(in_channels=[48, 72, 160, 288], channels=288, num_classes=150))
