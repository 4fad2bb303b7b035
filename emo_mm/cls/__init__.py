"""mmpretrain-side pieces of emo_mm: classifiers that load official EMOv2 checkpoints,
knowledge distillation, an EMA hook that accepts bare state dicts, and the
self-generating shapes crop dataset.

Classification configs import this module with
``custom_imports = dict(imports=['emo_mm', 'emo_mm.cls'], allow_failed_imports=False)``.
"""
from .classifier import EMOv2Classifier, EMOv2KDClassifier
from .datasets import ShapesClsDataset
from .hooks import CompatEMAHook
from .kd import KDImageClassifier, soft_kd_loss

__all__ = [
    'EMOv2Classifier', 'EMOv2KDClassifier', 'KDImageClassifier', 'soft_kd_loss',
    'ShapesClsDataset', 'CompatEMAHook'
]
