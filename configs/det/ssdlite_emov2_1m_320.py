_base_ = './_base_/ssdlite_emov2_coco.py'

model = dict(
    backbone=dict(arch='1m', init_cfg=dict(checkpoint='checkpoints/EMOv2_1M_224.pth')),
    neck=dict(in_channels=(80, 180), out_channels=(80, 180, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(80, 180, 512, 256, 256, 128)))
