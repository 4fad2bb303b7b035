# 160k-iteration recipe of EMOv2 Semantic FPN / SegFormer on ADE20K (32 images/batch): AdamW
# 1.2e-4, wd 0.05 (none on norms), 10x learning rate for the decode head, no clipping,
# 1500-iteration linear warm-up, constant, then cosine to 0 over the second half.
# Validation and checkpoints every 16k (mmseg's schedule).
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0), 'head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=80000, end=160000, T_max=80000,
         eta_min=0.0),
]
