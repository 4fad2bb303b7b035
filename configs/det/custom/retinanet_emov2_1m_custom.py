# Template: RetinaNet + EMOv2-1M on your own COCO-format detection data (docs/custom_dataset.md).
# Copy this file, then edit data_root and classes; nothing else depends on the data:
#   data_root/annotations/instances_train.json, data_root/train/<images>
#   data_root/annotations/instances_val.json,   data_root/val/<images>
# The recipe is the CPU demo's (from scratch, 192 px, 26 epochs). For the paper's COCO recipe
# (ImageNet-pretrained backbone, 1x schedule, 1333x800) inherit it instead:
#   _base_ = ['../retinanet_emov2_1m.py']
_base_ = ['../demo/retinanet_emov2_1m_shapes.py']

data_root = 'data/my_coco/'
# The category names of the json files; boxes of other categories are ignored.
classes = ('cat', 'dog')
num_classes = len(classes)

model = dict(bbox_head=dict(num_classes=num_classes))

# mmdet's CocoDataset instead of the self-generating shapes (which takes a `generator`).
metainfo = dict(classes=classes)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=_base_.train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
