# What the CPU demos share: the schedule (AdamW without weight decay on norms and biases,
# its fused update (one kernel for all tensors) over param groups merged by their options
# (emo_mm's MergedGroupsOptimWrapperConstructor, which also keeps the fused kernel safe;
# mmengine's default makes one group per parameter): the for-loop update's numbers to float
# rounding in an eighth of its time on a CPU,
# gradient-norm clipping at 10, a linear warm-up over the first 100 iterations from 1%, then
# cosine annealing per iteration to 1% at the end of training: its end follows `train_cfg`,
# so a demo states only its length), the hooks (a log line every 10 iterations, one checkpoint
# at the end, and the loss / validation curves drawn into <work_dir>/<timestamp>/curves.png
# when training ends: emo_mm.engine.PlotCurvesHook, which the demos' custom_imports register)
# and the runtime settings every codebase uses. Each codebase's
# `configs/<task>/_base_/cpu_demo_runtime.py` adds its scope and visualizer.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=12)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='MergedGroupsOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.05, fused=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, eta_min_ratio=0.01,
         convert_to_iter_based=True),
]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=-1, save_last=True, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [dict(type='PlotCurvesHook')]
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
log_level = 'INFO'
load_from = None
resume = False
