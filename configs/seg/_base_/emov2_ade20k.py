# ADE20K (150 classes, 512x512 crops) and runtime shared by the EMOv2 segmentation recipes:
# 8 images per GPU x 4 GPUs = 32, the EMOv2 backbone as the paper's recipes configure it.
_base_ = ['mmseg::_base_/datasets/ade20k.py', 'mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['emo_mm', 'emo_mm.seg'], allow_failed_imports=False)

# mmseg's default location; ADE20K_ROOT=/path/to/ADEChallengeData2016 (environment) moves it.
data_root = '{{$ADE20K_ROOT:data/ade/ADEChallengeData2016}}'
train_dataloader = dict(batch_size=8, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=32)

# Backbone template the head-family bases copy into model.backbone (edit it there, not here):
# window 10 in every stage, all four stages out (strides 4-32, no dilation), nothing frozen,
# BatchNorm trained; ImageNet weights loaded strictly (BN+SiLU after the depthwise conv, as in
# the classification checkpoints).
emov2_backbone = dict(
    type='EMOv2',
    arch='5m',
    window_size=10,
    out_indices=(1, 2, 3, 4),
    frozen_stages=-1,
    norm_eval=False,
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/EMOv2_5M_224.pth'))
