# SSDLite + EMOv2-1M from scratch on emo_mm's synthetic shapes, sized for a CPU.
#   python tools/train.py configs/det/demo/ssdlite_emov2_1m_shapes.py
# Against the COCO fine-tuning recipe: norm_eval=False (from scratch, frozen BatchNorm statistics
# that were never estimated collapse the backbone); an FPN neck with GroupNorm in place of SSD's
# extra layers, so the stride-8 and stride-16 maps, where the shapes are matched, carry the
# stage-4 semantics (SSD's separate maps left the classifier at the class prior); anchors of
# 12-192 px on the maps' true strides; an ignore band (IoU 0.4-0.5) between negatives and
# positives; 192 px input in batches of 8, like the RetinaNet demo; one head shared by all levels,
# with GroupNorm. The head is otherwise SSDLite's: depthwise-separable convs, softmax with
# hard-negative mining. Measured runs and the diagnosis:
# docs/detection.md. Its model comes from the COCO recipe, whose data and schedule it replaces.
_base_ = '../ssdlite_emov2_1m_320.py'
custom_imports = dict(imports=['emo_mm', 'emo_mm.det', 'emo_mm.engine'],
                      allow_failed_imports=False)

data_root = 'data/shapes/'
shapes_generator = dict(num_train=320, num_val=80, img_size=256, seed=0)

input_size = 192
width = 64
model = dict(
    backbone=dict(out_indices=(2, 3, 4), window_size=8, layer_scale_init_value=0.1,
                  channels_last=True, norm_eval=False, init_cfg=None),
    neck=dict(_delete_=True, type='FPN', in_channels=[48, 80, 180], out_channels=width,
              num_outs=6, add_extra_convs='on_output',
              norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)),
    bbox_head=dict(
        in_channels=(width, ) * 6,
        # One depthwise-separable head for all six levels, as RetinaNet shares its head: each
        # weight learns from every object, not only from those matched on its level. GroupNorm,
        # because BatchNorm's running statistics would mix the levels.
        share_levels=True,
        norm_cfg=dict(_delete_=True, type='GN', num_groups=16, requires_grad=True),
        num_classes=4,
        anchor_generator=dict(strides=[8, 16, 32, 64, 128, 256],
                              min_sizes=[12, 24, 48, 96, 135, 172],
                              max_sizes=[24, 48, 96, 135, 172, 192])),
    train_cfg=dict(assigner=dict(neg_iou_thr=0.4)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type='ShapesDetDataset',
        data_root=data_root,
        generator=shapes_generator,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/images/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type='ShapesDetDataset',
        data_root=data_root,
        generator=shapes_generator,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/images/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_epochs = 34
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, T_max=max_epochs,
         eta_min_ratio=0.01, convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=4e-3), clip_grad=dict(max_norm=10.0))
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1),
    visualization=dict(type='DetVisualizationHook', draw=True, interval=3))
# the recipe's hooks plus, as in the other CPU demos, the curves drawn when training ends
custom_hooks = _base_.custom_hooks + [dict(type='PlotCurvesHook')]
auto_scale_lr = dict(base_batch_size=8)
