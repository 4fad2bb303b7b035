_base_ = './_base_/fpn_emov2_ade20k.py'

model = dict(
    backbone=dict(arch='1m', init_cfg=dict(checkpoint='checkpoints/EMOv2_1M_224.pth')),
    neck=dict(in_channels=[32, 48, 80, 180]))
