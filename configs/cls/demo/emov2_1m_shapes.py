# EMOv2-1M classifier trained from scratch on the 64x64 crops of emo_mm's synthetic shapes (4
# classes, ~1200 train / ~300 val crops): a quick check of the classification side, sized for a
# 2-core CPU (30 epochs = 1110 iterations; see docs/classification.md for the measured time). Run:
#   python tools/train.py configs/cls/demo/emov2_1m_shapes.py
# What the ImageNet recipe would get wrong here (see docs/classification.md):
# * LayerScale starts at 1e-6, so every stage-entry block outputs ~1e-6-scaled features and the
#   norms' eps (1e-6) swamps them; 0.1 lets the residual branches work from the first step.
# * window 7 on 4x4 / 2x2 stage-3/4 maps pads them to 7x7 with unmasked zero tokens (1.6x the
#   compute, diluted attention); window 0 attends globally over the real tokens instead.
# * ~1200 crops overfit within a few epochs: flips, 90-degree turns and random crops
#   (shapes_classification.py) close the gap between train and val accuracy.
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '../../_base_/datasets/shapes_classification.py',
]
custom_imports = dict(imports=['emo_mm', 'emo_mm.cls'], allow_failed_imports=False)

model = dict(
    type='EMOv2Classifier',
    backbone=dict(
        type='EMOv2',
        arch='1m',
        window_size=0,
        final_norm=True,
        drop_path_rate=0.0,
        layer_scale_init_value=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=4, in_channels=180,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=None))  # PyTorch's Linear init, not N(0, 0.01): see docs

# Whole batches only: the last partial batch (7 crops) would take a full-size AdamW step on
# BatchNorm statistics of 7 samples (with it, an earlier run ended at 93.5% instead of 95.6%).
train_dataloader = dict(drop_last=True)

max_epochs = 30
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0,
                       custom_keys={'.gamma': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, T_max=max_epochs,
         eta_min_ratio=0.01, convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1))
log_processor = dict(by_epoch=True, window_size=10)
auto_scale_lr = dict(enable=False, base_batch_size=32)
randomness = dict(seed=0)
