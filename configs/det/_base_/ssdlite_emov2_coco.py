# SSDLite on COCO 2017 with an EMOv2 backbone (stages 3 and 4, strides 16 / 32), 120 epochs of
# a 5x repeated train set, 192 images/batch. Per-size files set arch, checkpoint and widths.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'
custom_imports = dict(imports=['emo_mm', 'emo_mm.det'], allow_failed_imports=False)

model = dict(
    # frozen_stages / norm_eval (and the max-norm 0.1 clipping below) are the
    # fine-tuning recipe: they assume the ImageNet weights of init_cfg, whose BatchNorm
    # statistics they keep. Training from scratch needs norm_eval=False (EMOv2 warns when
    # it freezes statistics that were never estimated), as the shapes demos show.
    backbone=dict(
        _delete_=True,
        type='EMOv2',
        arch='5m',
        window_size=10,
        out_indices=(3, 4),
        frozen_stages=-1,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/EMOv2_5M_224.pth')),
    neck=dict(in_channels=(160, 288), out_channels=(160, 288, 512, 256, 256, 128)),
    # mmdet 3.3.0's SSDHead cannot predict (no ``loss_cls``); FixedSSDHead can.
    bbox_head=dict(type='FixedSSDHead', in_channels=(160, 288, 512, 256, 256, 128)))

max_epochs = 120
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-5, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=60, end=max_epochs, T_max=60, eta_min=0.0,
         convert_to_iter_based=True),
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2.4e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=0.1, norm_type=2))
