# EMOv2-5M fine-tuned on ImageNet-1k at 256 (window 8) from the 224 checkpoint.
_base_ = ['./_base_/imagenet_256.py', './_base_/emov2_in1k_finetune.py']

model = dict(backbone=dict(arch='5m'), head=dict(in_channels=288))
load_from = 'checkpoints/EMOv2_5M_224.pth'
