"""EMOv2 models; importing this package registers ``EMOv2`` in mmengine's MODELS registry,
from which mmdet, mmseg and mmpretrain resolve it."""
from .emov2 import ARCH_SETTINGS, EMOv2, InvertedResidualBlock, guess_arch, resolve_arch
from .errors import EMOv2ArgumentError, UnknownArchError
from .layers import reparameterize

__all__ = [
    'ARCH_SETTINGS', 'EMOv2', 'EMOv2ArgumentError', 'InvertedResidualBlock', 'UnknownArchError',
    'guess_arch', 'reparameterize', 'resolve_arch'
]
