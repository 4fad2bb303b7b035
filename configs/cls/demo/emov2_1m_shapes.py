# EMOv2-1M classifier trained from scratch on the 64x64 crops of emo_mm's synthetic shapes (4
# classes, ~1200 train / ~300 val crops): a quick check of the classification side, sized for a
# 2-core CPU (30 epochs = 1110 iterations; see docs/classification.md for the measured time). Run:
#   python tools/train.py configs/cls/demo/emov2_1m_shapes.py
# Why LayerScale 0.1, global attention (window 0) and the augmentation differ from the ImageNet
# recipe, with the measured runs: docs/classification.md.
_base_ = [
    '../../_base_/datasets/shapes_classification.py',
    '../_base_/cpu_demo_runtime.py',
]
custom_imports = dict(imports=['emo_mm', 'emo_mm.cls', 'emo_mm.engine'],
                      allow_failed_imports=False)

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
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(
    paramwise_cfg=dict(flat_decay_mult=0.0, custom_keys={'.gamma': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [  # warm-up over 50 iterations
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, eta_min_ratio=0.01,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=32)
randomness = dict(seed=0)
