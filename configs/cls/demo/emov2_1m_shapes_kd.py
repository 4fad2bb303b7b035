# Knowledge distillation on the shapes crops: the demo model learns from a frozen teacher, here a
# trained copy of the demo itself (train configs/cls/demo/emov2_1m_shapes.py first), to show
# the KD mechanics on a CPU. Any mmpretrain classifier can be the teacher.
_base_ = ['./emov2_1m_shapes.py']

model = dict(
    type='EMOv2KDClassifier',
    teacher=_base_.model,
    teacher_checkpoint='work_dirs/emov2_1m_shapes/epoch_30.pth',
    teacher_input_size=None,  # same 64 px crops
    # the teacher was trained with the same normalisation as the student, in [0, 1] units
    teacher_mean=[v / 255 for v in _base_.data_preprocessor.mean],
    teacher_std=[v / 255 for v in _base_.data_preprocessor.std],
    kd_loss_weight=5.0,
    tau=1.0)
