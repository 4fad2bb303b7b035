"""EMOv2 models; importing this package registers ``EMOv2`` in mmengine's MODELS registry,
from which mmdet, mmseg and mmpretrain resolve it."""
from .checkpoint import (CheckpointMismatchError, load_classifier, load_model, load_pretrained,
                         official_to_backbone, official_to_classifier, read_checkpoint)
from .deploy import reparameterize
from .emov2 import ARCH_SETTINGS, EMOv2, InvertedResidualBlock, resolve_arch
from .errors import EMOv2ArgumentError, UnknownArchError
from .export import AotModel, export_aot, load_aot

__all__ = [
    'ARCH_SETTINGS', 'EMOv2', 'EMOv2ArgumentError', 'InvertedResidualBlock', 'UnknownArchError',
    'resolve_arch', 'CheckpointMismatchError',
    'AotModel', 'export_aot', 'load_aot', 'load_classifier', 'load_model', 'load_pretrained',
    'official_to_backbone', 'official_to_classifier', 'read_checkpoint', 'reparameterize'
]
