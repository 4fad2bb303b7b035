# EMOv2-2M on ImageNet-1k at 224 with knowledge distillation (see _base_/kd_teacher.py).
_base_ = ['./emov2_2m_in1k_224.py', './_base_/kd_teacher.py']

model = _base_.kd_model
