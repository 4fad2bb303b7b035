# COCO 1x schedule of the EMOv2 RetinaNet and Mask R-CNN recipes (16 images/batch):
# AdamW 2e-4, wd 0.05 (none on norms), gradient clipping, 500-iteration warm-up, constant,
# then cosine to 0 over epochs 6-12.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=0.1, norm_type=2))
max_epochs = 12
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-5, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=6, end=max_epochs, T_max=6, eta_min=0.0,
         convert_to_iter_based=True),
]
# 4 GPUs x 4 images; --auto-scale-lr rescales lr for other totals.
auto_scale_lr = dict(enable=False, base_batch_size=16)
