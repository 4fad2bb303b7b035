# Fine-tuning at 256 / 512 from a 224 checkpoint (official `ft = True` branch of emo2_{256,512}.py):
# 30 epochs, 5 warm-up epochs, lr / 6, weight decay 1e-8; window size 8 (the *_256 / *_512 archs).
# Per-size configs set the arch, head width and `load_from` (an official or emo_mm checkpoint).
_base_ = ['./emov2_in1k.py']

model = dict(backbone=dict(window_size=8))

base_lr = 1.5e-3 / 6
lr = base_lr * 1024 / 512
optim_wrapper = dict(optimizer=dict(lr=lr, weight_decay=1e-8))
min_lr = base_lr / 6000
warmup_epochs = 5
max_epochs = 30
param_scheduler = [
    dict(type='LinearLR', start_factor=min_lr / lr, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=min_lr, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, T_max=max_epochs - warmup_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_begin=1, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5))
