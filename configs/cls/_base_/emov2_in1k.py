# EMOv2 ImageNet-1k recipe (official configs/emo2/emo2_224.py): 300 epochs, AdamW, lr 1.5e-3 x
# batch / 512, 20 warm-up epochs then cosine, both per iteration; wd 0.05 except norms, biases,
# 1-D params and LayerScale gamma; label smoothing 0.1; EMA 0.9998 per iteration (EMA and raw
# weights both evaluated); grad-norm clip 5; seed 42. AMP: add --amp to tools/train.py (GPU).
# Per-size configs set the arch and the head width; the data comes from an imagenet_<size> base.
_base_ = [
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['emo_mm', 'emo_mm.cls'], allow_failed_imports=False)

model = dict(
    type='EMOv2Classifier',  # ImageClassifier that also loads official EMOv2 .pth files
    backbone=dict(type='EMOv2', arch='5m', window_size=7, final_norm=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=288,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.)))

# lr = base_lr x batch / 512, for 8 GPUs x 128 = 1024 images: 3e-3. --auto-scale-lr rescales
# it to lr x batch / 1024 = base_lr x batch / 512 (auto_scale_lr.base_batch_size=1024, base).
base_lr = 1.5e-3
lr = base_lr * 1024 / 512
optim_wrapper = dict(
    optimizer=dict(lr=lr),  # AdamW, betas (0.9, 0.999), eps 1e-8, wd 0.05 from the base
    # Base: no decay for norm weights/biases, biases, 1-D params; add LayerScale gamma.
    paramwise_cfg=dict(custom_keys={'.gamma': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=5.0, norm_type=2))

# Official warm-up start and final lr: base_lr / 1e3 / 1.5 / 4 = base_lr / 1e2 / 1.5e1 / 4
# (2.5e-7; absolute values, not rescaled with the batch).
min_lr = base_lr / 6000
warmup_epochs = 20
max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=min_lr / lr, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=min_lr, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, T_max=max_epochs - warmup_epochs, convert_to_iter_based=True),
]
# Official: test from epoch 200, every 5 epochs.
train_cfg = dict(max_epochs=max_epochs, val_begin=200, val_interval=5)

custom_hooks = [
    # momentum = 1 - 0.9998, updated every iteration over parameters and BN statistics.
    dict(type='CompatEMAHook', momentum=2e-4, update_buffers=True, evaluate_on_ema=True,
         evaluate_on_origin=True, priority='ABOVE_NORMAL'),
]
default_hooks = dict(checkpoint=dict(interval=15, max_keep_ckpts=3, save_best='auto'))
randomness = dict(seed=42, deterministic=False)
