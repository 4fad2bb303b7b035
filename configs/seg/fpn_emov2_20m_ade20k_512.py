_base_ = './_base_/fpn_emov2_ade20k.py'
# No EMOv2-20M ImageNet checkpoint has been released: put your own here, or train
# from scratch with --cfg-options model.backbone.init_cfg=None.

model = dict(
    backbone=dict(arch='20m', init_cfg=dict(checkpoint='checkpoints/EMOv2_20M_224.pth')),
    neck=dict(in_channels=[64, 128, 320, 448]))
