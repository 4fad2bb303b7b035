_base_ = './_base_/deeplabv3_emov2_ade20k.py'
# No EMOv2-20M ImageNet checkpoint has been released: put your own here, or train
# from scratch with --cfg-options model.backbone.init_cfg=None.

model = dict(
    backbone=dict(arch='20m', init_cfg=dict(checkpoint='checkpoints/EMOv2_20M_224.pth')),
    decode_head=dict(in_channels=448), auxiliary_head=dict(in_channels=320))
