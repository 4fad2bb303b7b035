_base_ = './_base_/pspnet_emov2_ade20k.py'

model = dict(
    backbone=dict(arch='5m', init_cfg=dict(checkpoint='checkpoints/EMOv2_5M_224.pth')),
    decode_head=dict(in_channels=288), auxiliary_head=dict(in_channels=160))
