# Template: EMOv2-1M classifier on your own ImageNet-style class folders (docs/custom_dataset.md).
# Copy this file, then edit data_root and classes; nothing else depends on the data:
#   data_root/train/<class>/*.jpg, data_root/val/<class>/*.jpg (the same class folders in both)
# The recipe is the CPU demo's (from scratch, 64 px crops, 30 epochs). For the paper's ImageNet
# recipe (224 px, 300 epochs, EMA) inherit it instead, with its own test pipeline (below):
#   _base_ = ['../emov2_1m_in1k_224.py']
_base_ = ['../demo/emov2_1m_shapes.py']

data_root = 'data/my_folders/'
# The class folder names in sorted order: mmpretrain labels the folders alphabetically and
# takes these only as their names.
classes = ('cat', 'dog')
num_classes = len(classes)

model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
# Top-5 accuracy needs at least 5 classes (the paper recipe reports it).
val_evaluator = dict(topk=(1, 5) if num_classes >= 5 else (1, ))
test_evaluator = val_evaluator

# The demo tests its 64 px crops as they are; your images are resized to the training size.
# With the paper recipe, which resizes them itself: test_pipeline = _base_.test_pipeline
crop_size = 64
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=crop_size, edge='short'),
    dict(type='CenterCrop', crop_size=crop_size),
    dict(type='PackInputs'),
]

# mmpretrain's CustomDataset (class folders, no annotation file) instead of the shapes crops.
metainfo = dict(classes=classes)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        metainfo=metainfo,
        pipeline=_base_.train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        metainfo=metainfo,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
