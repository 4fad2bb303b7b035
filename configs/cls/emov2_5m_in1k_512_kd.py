# EMOv2-5M fine-tuned at 512 (window 8) with knowledge distillation (EMOv2-5M*, 82.9% in the
# paper) from the 224 KD checkpoint; the teacher sees the batch resized to 224.
_base_ = ['./emov2_5m_in1k_512.py', './_base_/kd_teacher.py']

model = _base_.kd_model
load_from = 'checkpoints/EMOv2_5M_224_KD.pth'
