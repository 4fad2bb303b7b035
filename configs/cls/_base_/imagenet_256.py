# ImageNet-1k at 256 (the fine-tuning configs): the 224 augmentation with 256 crops; test: resize
# the short side to int(256 / 0.875) = 292, bicubic, centre crop 256.
_base_ = ['./imagenet_224.py']

img_size = 256
train_pipeline = [
    _base_.train_pipeline[0],
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomResizedCrop', scale=img_size, backend='pillow', interpolation=mode)]
        for mode in ('bilinear', 'bicubic')
    ]),
    *_base_.train_pipeline[2:],
]
test_pipeline = [
    _base_.test_pipeline[0],
    dict(type='ResizeEdge', scale=int(img_size / 0.875), edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    _base_.test_pipeline[-1],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
