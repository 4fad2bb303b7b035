# Mask R-CNN + EMOv2-1M from scratch on emo_mm's synthetic shapes (boxes and instance masks),
# sized for a CPU:  python tools/train.py configs/det/demo/mask_rcnn_emov2_1m_shapes.py
# Measured runs: docs/detection.md. Against the COCO recipe: GroupNorm in the neck and mask head,
# 192 px input with the FPN on stages 2-4 (strides 8-128; RPN anchors of 16-256 px for the
# 10-75 px shapes), fewer proposals and RoIs per image (2-6 objects), the CPU demos' schedule.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../../_base_/datasets/shapes_detection.py',
    '../_base_/cpu_demo_runtime.py',
]
custom_imports = dict(imports=['emo_mm', 'emo_mm.det', 'emo_mm.engine'],
                      allow_failed_imports=False)

img_scale = (192, 192)
width = 64
# GroupNorm in the neck and mask head: from scratch, unnormalised heads learn far slower.
head_norm = dict(type='GN', num_groups=16, requires_grad=True)
strides = [8, 16, 32, 64]
# The RoI heads read stride 8 for RoIs under 56 px, stride 16 up to 112 px (COCO: 112 / 224).
roi_levels = dict(out_channels=width, featmap_strides=strides, finest_scale=28)
model = dict(
    backbone=dict(
        _delete_=True,
        type='EMOv2',
        arch='1m',
        window_size=8,
        out_indices=(2, 3, 4),
        drop_path_rate=0.0,
        layer_scale_init_value=0.1,
        channels_last=True,
        init_cfg=None),
    neck=dict(in_channels=[48, 80, 180], out_channels=width, num_outs=5, norm_cfg=head_norm),
    rpn_head=dict(in_channels=width, feat_channels=width,
                  anchor_generator=dict(scales=[2], strides=strides + [128])),
    roi_head=dict(
        bbox_roi_extractor=dict(**roi_levels, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(in_channels=width, fc_out_channels=256, num_classes=4),
        mask_roi_extractor=dict(**roi_levels, roi_layer=dict(sampling_ratio=2)),
        mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=4,
                       norm_cfg=head_norm)),
    # 2-6 objects per image: 100 proposals and 64 sampled RoIs per image (COCO: 1000 / 512)
    # lose nothing and make the RoI heads, which dominate the CPU time, far cheaper.
    train_cfg=dict(rpn_proposal=dict(nms_pre=300, max_per_img=100),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator

max_epochs = 16
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(enable=False, base_batch_size=8)
