# ImageNet-1k at 224 with the EMOv2 recipe's augmentation (timm create_transform with
# auto_augment='rand-m9-mstd0.5-inc1', interpolation='random', re_prob=0): random-resized crop
# with a random (bilinear / bicubic) interpolation, flip, RandAugment; no colour jitter (timm
# drops it under RandAugment), no random erasing, no mixup/cutmix.
# Test: resize the short side to int(224 / 0.875) = 256 (bicubic), centre crop 224.
# Data: mmpretrain's ImageNet layout under data_root, either folders (train/<wnid>/*.JPEG,
# val/<wnid>/*.JPEG) or annotation files (meta/train.txt, meta/val.txt); see
# docs/classification.md.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py']

data_root = 'data/imagenet'
img_size = 224

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomResizedCrop', scale=img_size, backend='pillow', interpolation=mode)]
        for mode in ('bilinear', 'bicubic')
    ]),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in _base_.bgr_mean], interpolation='bicubic')),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=int(img_size / 0.875), edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]

# 128 images per GPU x 8 GPUs = 1024 (optim_wrapper lr and auto_scale_lr assume this total).
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
