_base_ = './_base_/segformer_emov2_ade20k.py'

model = dict(
    backbone=dict(arch='5m', init_cfg=dict(checkpoint='checkpoints/EMOv2_5M_224.pth')),
    decode_head=dict(in_channels=[48, 72, 160, 288], channels=288))
