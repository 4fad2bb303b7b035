# emo_mm's synthetic shapes (generated on first use under data/shapes/) for mmpretrain: the
# 64x64 single-object crops, 4 classes. Same generator arguments as shapes_detection.py, so
# both demos share one copy of the data.
dataset_type = 'ShapesClsDataset'
data_root = 'data/shapes/'
# Arguments of emo_mm.datasets.ensure_shapes; changing them regenerates the data.
shapes_generator = dict(num_train=320, num_val=80, img_size=256, seed=0)

data_preprocessor = dict(
    num_classes=4,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# A shape's class does not change under flips, 90-degree turns or a moderate crop: with ~1200
# training crops these augmentations are what keeps validation accuracy close to training's.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=[0.25, 0.25, 0.25],
         direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='Rotate', angle=90.0, prob=0.5, random_negative_prob=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generator=shapes_generator,
        ann_file='annotations/crops_train.txt',
        data_prefix='train/crops',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generator=shapes_generator,
        ann_file='annotations/crops_val.txt',
        data_prefix='val/crops',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
