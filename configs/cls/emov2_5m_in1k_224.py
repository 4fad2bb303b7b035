# EMOv2-5M on ImageNet-1k at 224 (see _base_/emov2_in1k.py; 8 GPUs x 128, add --amp).
_base_ = ['./_base_/imagenet_224.py', './_base_/emov2_in1k.py']

model = dict(backbone=dict(arch='5m'), head=dict(in_channels=288))
