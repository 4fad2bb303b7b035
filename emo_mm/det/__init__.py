"""mmdet-side pieces of emo_mm: the self-generating shapes dataset, RetinaNet's head with
batched training targets and an SSDHead fix.

Detection configs import this module with
``custom_imports = dict(imports=['emo_mm', 'emo_mm.det'], allow_failed_imports=False)``.
"""
from .datasets import ShapesDetDataset
from .retina_head import BatchedRetinaHead
from .ssd_head import FixedSSDHead

__all__ = ['ShapesDetDataset', 'BatchedRetinaHead', 'FixedSSDHead']
