# RetinaNet 1x on COCO 2017 with an EMOv2 backbone (per-size files set arch, checkpoint, widths).
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/default_runtime.py',
    './schedule_emov2_1x.py',
]
custom_imports = dict(imports=['emo_mm', 'emo_mm.det'], allow_failed_imports=False)

model = dict(
    # frozen_stages / norm_eval (and the max-norm 0.1 clipping of the schedule) are the
    # fine-tuning recipe: they assume the ImageNet weights of init_cfg, whose BatchNorm
    # statistics they keep. Training from scratch needs norm_eval=False (EMOv2 warns when
    # it freezes statistics that were never estimated), as the shapes demos show.
    backbone=dict(
        _delete_=True,
        type='EMOv2',
        arch='5m',
        window_size=10,
        out_indices=(1, 2, 3, 4),
        frozen_stages=1,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/EMOv2_5M_224.pth')),
    # FPN start_level=1: stage 1 (stride 4) is computed but unused, as in the paper's recipe.
    neck=dict(in_channels=[48, 72, 160, 288]),
    # mmdet's RetinaHead, its training targets computed for the batch in one pass (the same
    # targets; emo_mm/det/retina_head.py).
    bbox_head=dict(type='BatchedRetinaHead'))

# 4 images per GPU x 4 GPUs = 16 (auto_scale_lr.base_batch_size).
train_dataloader = dict(batch_size=4, num_workers=4)
