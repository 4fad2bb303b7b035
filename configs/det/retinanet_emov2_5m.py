_base_ = './_base_/retinanet_emov2_coco.py'

model = dict(
    backbone=dict(arch='5m', init_cfg=dict(checkpoint='checkpoints/EMOv2_5M_224.pth')),
    neck=dict(in_channels=[48, 72, 160, 288]))
