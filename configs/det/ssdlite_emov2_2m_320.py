_base_ = './_base_/ssdlite_emov2_coco.py'

model = dict(
    backbone=dict(arch='2m', init_cfg=dict(checkpoint='checkpoints/EMOv2_2M_224.pth')),
    neck=dict(in_channels=(120, 200), out_channels=(120, 200, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(120, 200, 512, 256, 256, 128)))
