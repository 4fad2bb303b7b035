# Template: DeepLabv3 + EMOv2-1M on your own mmseg-style image / label-map folders
# (docs/custom_dataset.md). Copy this file, then edit data_root, classes and the suffixes;
# nothing else depends on the data:
#   data_root/img_dir/{train,val}/<name>.jpg
#   data_root/ann_dir/{train,val}/<name>.png (one class index per pixel, 255 = ignored)
# The recipe is the CPU demo's (from scratch, 192 px, 1500 iterations). For the paper's ADE20K
# recipe (ImageNet-pretrained backbone, 512 px crops, 80k iterations) inherit it instead, and
# set reduce_zero_label = True below (its pipelines load the maps that way):
#   _base_ = ['../deeplabv3_emov2_1m_ade20k_512.py']
_base_ = ['../demo/deeplabv3_emov2_1m_shapes.py']

data_root = 'data/my_seg/'
# Label value k of the maps is classes[k]. With reduce_zero_label = True, label 0 is ignored
# instead (as in ADE20K, whose 0 means "other") and label k is classes[k - 1].
classes = ('background', 'cat', 'dog')
num_classes = len(classes)
reduce_zero_label = False

# All classes weigh the same in the cross-entropy, and padding is ignored (255), unlike the
# demo (background 0.15, padding labelled background): mmseg 1.2.2's CrossEntropyLoss fails on
# any ignored (255) pixel when given class weights ("index 255 is out of bounds"). If your maps
# hold no 255 and class 0 is a dominant background, the demo's weighting may help:
#   class_weight = [0.15] + [1.0] * (num_classes - 1)  and  seg_pad_val=0 below.
class_weight = None
model = dict(
    data_preprocessor=dict(seg_pad_val=255),
    decode_head=dict(num_classes=num_classes, loss_decode=dict(class_weight=class_weight)),
    auxiliary_head=dict(num_classes=num_classes, loss_decode=dict(class_weight=class_weight)))

# mmseg's BaseSegDataset instead of the self-generating shapes (which takes a `generator`).
metainfo = dict(classes=classes)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='BaseSegDataset',
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=reduce_zero_label,
        pipeline=_base_.train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='BaseSegDataset',
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=reduce_zero_label,
        test_mode=True,
        pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
