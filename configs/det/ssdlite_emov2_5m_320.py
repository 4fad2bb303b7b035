_base_ = './_base_/ssdlite_emov2_coco.py'

model = dict(
    backbone=dict(arch='5m', init_cfg=dict(checkpoint='checkpoints/EMOv2_5M_224.pth')),
    neck=dict(in_channels=(160, 288), out_channels=(160, 288, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(160, 288, 512, 256, 256, 128)))
