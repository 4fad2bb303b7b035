# Knowledge distillation settings (official emo2_*_kd.py: CLSKDLoss, kd_type 'soft', lam 5, tau 1,
# teacher input 224). The official teacher is TResNet-L-v2 (83.9%, raw [0, 1] inputs); here it is
# mmpretrain's ConvNeXt-B (convnext-base_32xb128_in1k, 83.66%), read from checkpoints/ when training
# starts (nothing is downloaded; docs/classification.md says where to get the file). Any mmpretrain
# classifier works (e.g. TimmClassifier if timm is installed): set `teacher`,
# `teacher_checkpoint` and the teacher's own mean/std ([0, 1] units).
# A KD config inherits its non-KD config and this file, then sets `model = _base_.kd_model`.
kd_model = dict(
    type='EMOv2KDClassifier',
    teacher=dict(
        type='ImageClassifier',
        backbone=dict(type='ConvNeXt', arch='base'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=1024)),
    teacher_checkpoint='checkpoints/convnext-base_32xb128_in1k_20221207-fbdb5eb9.pth',
    teacher_input_size=224,
    teacher_mean=(0.485, 0.456, 0.406),
    teacher_std=(0.229, 0.224, 0.225),
    kd_loss_weight=5.0,
    tau=1.0)
