# SSDLite + EMOv2-1M from scratch on emo_mm's synthetic shapes, sized for a CPU.
#   python tools/train.py configs/det/demo/ssdlite_emov2_1m_shapes.py
# Against the COCO fine-tuning recipe: norm_eval=False (from scratch, frozen BatchNorm statistics
# that were never estimated collapse the backbone), a stride-8 map and 16-256 px anchors on the
# maps' true strides. It learns, but far too slowly (val bbox mAP 0.025 in 9 min 12 s): the
# measured runs and the diagnosis are in docs/detection.md. Its model comes from the COCO recipe,
# whose COCO data and schedule it replaces below.
_base_ = '../ssdlite_emov2_1m_320.py'

data_root = 'data/shapes/'
shapes_generator = dict(num_train=320, num_val=80, img_size=256, seed=0)

input_size = 256
model = dict(
    backbone=dict(out_indices=(2, 3, 4), window_size=8, layer_scale_init_value=0.1,
                  channels_last=True, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=(48, 80, 180), out_channels=(48, 80, 180, 256, 256, 128),
              level_strides=(2, 2, 2), level_paddings=(1, 1, 1)),
    bbox_head=dict(
        in_channels=(48, 80, 180, 256, 256, 128),
        num_classes=4,
        anchor_generator=dict(strides=[8, 16, 32, 64, 128, 256],
                              min_sizes=[16, 32, 64, 128, 180, 230],
                              max_sizes=[32, 64, 128, 180, 230, 256])))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=16, contrast_range=(0.8, 1.2),
         saturation_range=(0.8, 1.2), hue_delta=9),
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
    batch_size=16,
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

max_epochs = 20
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
auto_scale_lr = dict(base_batch_size=16)
