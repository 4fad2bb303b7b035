# RetinaNet + EMOv2-1M trained from scratch on emo_mm's synthetic shapes: the project's main
# job, sized for a 2-core CPU (about 10 minutes). Run:
#   python tools/train.py configs/det/demo/retinanet_emov2_1m_shapes.py
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../../_base_/datasets/shapes_detection.py',
    '../_base_/cpu_demo_runtime.py',
]
custom_imports = dict(imports=['emo_mm', 'emo_mm.det', 'emo_mm.engine'],
                      allow_failed_imports=False)

img_scale = (192, 192)
width = 64
# GroupNorm in the neck and head: from scratch, unnormalised heads learn far slower.
head_norm = dict(type='GN', num_groups=16, requires_grad=True)
model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
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
    neck=dict(in_channels=[48, 80, 180], out_channels=width, start_level=0, num_outs=5,
              norm_cfg=head_norm),
    # RetinaHead with the training targets of the whole batch in one pass (equal targets).
    bbox_head=dict(type='BatchedRetinaHead', num_classes=4, in_channels=width, feat_channels=width, stacked_convs=2,
                   norm_cfg=head_norm,
                   anchor_generator=dict(octave_base_scale=3)),
    test_cfg=dict(score_thr=0.05, max_per_img=50))

max_epochs = 26
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(enable=False, base_batch_size=8)
# The curves drawn into <work_dir>/<timestamp>/curves.png when training ends: the losses, and
# the mAP of the one validation at the end.
custom_hooks = [dict(type='PlotCurvesHook',
                     keys=['loss', 'loss_cls', 'loss_bbox', 'coco/bbox_mAP', 'coco/bbox_mAP_50'])]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
