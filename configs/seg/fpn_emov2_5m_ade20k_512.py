_base_ = './_base_/fpn_emov2_ade20k.py'

model = dict(
    backbone=dict(arch='5m', init_cfg=dict(checkpoint='checkpoints/EMOv2_5M_224.pth')),
    neck=dict(in_channels=[48, 72, 160, 288]))
