_base_ = './_base_/deeplabv3_emov2_ade20k.py'

model = dict(
    backbone=dict(arch='1m', init_cfg=dict(checkpoint='checkpoints/EMOv2_1M_224.pth')),
    decode_head=dict(in_channels=180), auxiliary_head=dict(in_channels=80))
