# DeepLabv3 + EMOv2-1M trained from scratch on emo_mm's synthetic shapes (semantic maps) on a CPU.
# Run:  python tools/train.py configs/seg/demo/deeplabv3_emov2_1m_shapes.py
# Measured figures and the runs behind each choice are in docs/segmentation.md. What the ADE20K
# recipe would get wrong here:
# * The heads read stride 16, not 32: the shapes are 12-75 px at 192 px input, and even exact
#   per-cell class proportions on a stride-32 map cap val mIoU near 49. ASPP runs on stage 3,
#   the auxiliary FCN head on stage 2; stage 4 is not computed.
# * No random rescaling: the val images are all at one scale, and RandomResize + RandomCrop
#   (ADE20K's augmentation) kept the model from telling the shapes apart within the schedule.
# * 94% of the pixels are background: background gets 0.15 of the weight of a shape class,
#   otherwise the model first says "background" everywhere and stays there for a long time.
# * ASPP's dilations 12/24/36 suit the 64x64 maps of a dilated ResNet on 512 crops; 1/2/4/6
#   fit a 12x12 map.
# * LayerScale starts at 1e-6, so the residual branches of a from-scratch model are silent;
#   0.1 lets them work from the first step.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    'mmseg::_base_/default_runtime.py',
    '../../_base_/datasets/shapes_segmentation.py',
]
custom_imports = dict(imports=['emo_mm', 'emo_mm.seg'], allow_failed_imports=False)

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

max_iters = 1500
val_interval = 500
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, T_max=max_iters,
         eta_min_ratio=0.01),
]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
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
