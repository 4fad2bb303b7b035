# DeepLabv3 + EMOv2-1M trained from scratch on emo_mm's synthetic shapes (semantic maps) on a CPU.
# Run:  python tools/train.py configs/seg/demo/deeplabv3_emov2_1m_shapes.py
# Why each value differs from the ADE20K recipe (stride-16 heads, no rescaling, background weight,
# small dilations, LayerScale 0.1), with the measured runs: docs/segmentation.md.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    '../../_base_/datasets/shapes_segmentation.py',
    '../_base_/cpu_demo_runtime.py',
]
custom_imports = dict(imports=['emo_mm', 'emo_mm.seg', 'emo_mm.engine'],
                      allow_failed_imports=False)

width = 64
class_weight = [0.15, 1.0, 1.0, 1.0, 1.0]   # background, circle, triangle, rectangle, star
crop_size = (192, 192)
model = dict(
    # Label any padding background rather than 255 (ignored), which mmseg 1.2.2's
    # CrossEntropyLoss cannot combine with class_weight ("index 255 is out of bounds").
    data_preprocessor=dict(size=crop_size, seg_pad_val=0),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='EMOv2',
        arch='1m',
        window_size=6,            # the 12x12 stage-3 map in 2x2 windows, no padding
        out_indices=(2, 3),       # strides 8 and 16
        drop_path_rate=0.0,
        layer_scale_init_value=0.1,
        channels_last=True,
        init_cfg=None),
    decode_head=dict(
        in_channels=80, in_index=1, channels=width, num_classes=5, dilations=(1, 2, 4, 6),
        loss_decode=dict(type='CrossEntropyLoss', class_weight=class_weight, loss_weight=1.0)),
    auxiliary_head=dict(
        in_channels=48, in_index=0, channels=width, num_classes=5,
        loss_decode=dict(type='CrossEntropyLoss', class_weight=class_weight, loss_weight=0.4)))

# Counted in iterations (the schedule's shape is the shared one, with a 50-iteration warm-up).
max_iters = 1500
val_interval = 500
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, eta_min_ratio=0.01),
]
default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False))
log_processor = dict(by_epoch=False, window_size=20)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
