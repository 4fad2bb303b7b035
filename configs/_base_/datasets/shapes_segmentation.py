# emo_mm's synthetic shapes (generated on first use under data/shapes/) for mmseg: semantic maps
# with 0 = background and 1-4 = circle, triangle, rectangle, star (5 classes, none ignored).
dataset_type = 'ShapesSegDataset'
data_root = 'data/shapes/'
# Arguments of emo_mm.datasets.ensure_shapes; changing them regenerates the data. The same
# data serves the detection demo.
shapes_generator = dict(num_train=320, num_val=80, img_size=256, seed=0)
crop_size = (256, 256)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generator=shapes_generator,
        data_prefix=dict(img_path='train/images', seg_map_path='train/semantic'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generator=shapes_generator,
        data_prefix=dict(img_path='val/images', seg_map_path='val/semantic'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
