# EMOv2-20M fine-tuned on ImageNet-1k at 256 (window 8) from the 224 checkpoint.
_base_ = ['./_base_/imagenet_256.py', './_base_/emov2_in1k_finetune.py']

model = dict(backbone=dict(arch='20m'), head=dict(in_channels=448))
load_from = 'checkpoints/EMOv2_20M_224.pth'
