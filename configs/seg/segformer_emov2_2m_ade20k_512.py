_base_ = './_base_/segformer_emov2_ade20k.py'

model = dict(
    backbone=dict(arch='2m', init_cfg=dict(checkpoint='checkpoints/EMOv2_2M_224.pth')),
    decode_head=dict(in_channels=[32, 48, 120, 200], channels=288))
