"""emo_mm: EMOv2 backbones for OpenMMLab (mmdet, mmseg, mmpretrain).

Importing ``emo_mm`` registers the ``EMOv2`` backbone (configs pull it in with
``custom_imports=dict(imports=['emo_mm'])``) and lets torch's safe loader read mmengine
checkpoints, so ``--resume`` works with torch >= 2.6.
"""
from .checkpoint import allow_mmengine_checkpoints
from .models import EMOv2  # noqa: F401  (registers the backbone)

__version__ = '0.1.0'

allow_mmengine_checkpoints()
