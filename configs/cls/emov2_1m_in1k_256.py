# EMOv2-1M fine-tuned on ImageNet-1k at 256 (window 8) from the 224 checkpoint.
_base_ = ['./_base_/imagenet_256.py', './_base_/emov2_in1k_finetune.py']

model = dict(backbone=dict(arch='1m'), head=dict(in_channels=180))
load_from = 'checkpoints/EMOv2_1M_224.pth'
