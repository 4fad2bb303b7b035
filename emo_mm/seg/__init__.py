"""mmseg-side pieces of emo_mm: the self-generating shapes segmentation dataset.

Segmentation configs import this module with
``custom_imports = dict(imports=['emo_mm', 'emo_mm.seg'], allow_failed_imports=False)``.
"""
from .datasets import ShapesSegDataset

__all__ = ['ShapesSegDataset']
