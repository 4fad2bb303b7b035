_base_ = './_base_/pspnet_emov2_ade20k.py'

model = dict(
    backbone=dict(arch='2m', init_cfg=dict(checkpoint='checkpoints/EMOv2_2M_224.pth')),
    decode_head=dict(in_channels=200), auxiliary_head=dict(in_channels=120))
