# 80k-iteration recipe of EMOv2 DeepLabv3 / PSPNet on ADE20K (32 images/batch): AdamW 1.2e-4,
# wd 0.05 (none on norms), gradient clipping 0.1, 500-iteration linear warm-up, constant, then
# cosine to 0 over the second half. Validation and checkpoints every 8k (mmseg's schedule).
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=0.1, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-5, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=40000, end=80000, T_max=40000,
         eta_min=0.0),
]
