# DeepLabv3 + EMOv2-1M trained from scratch on emo_mm's synthetic shapes (semantic maps), sized
# for a 2-core CPU (about 10 minutes). Run:
#   python tools/train.py configs/seg/demo/deeplabv3_emov2_1m_shapes.py
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    'mmseg::_base_/default_runtime.py',
    '../../_base_/datasets/shapes_segmentation.py',
]
custom_imports = dict(imports=['emo_mm', 'emo_mm.seg'], allow_failed_imports=False)

width = 64
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='EMOv2',
        arch='1m',
        window_size=8,
        out_indices=(1, 2, 3, 4),
        drop_path_rate=0.0,
        layer_scale_init_value=0.1,
        init_cfg=None),
    decode_head=dict(in_channels=180, channels=width, num_classes=5),
    auxiliary_head=dict(in_channels=80, channels=width, num_classes=5))

max_iters = 600
val_interval = 200
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
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
