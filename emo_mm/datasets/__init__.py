"""Datasets for emo_mm demos and tests: the synthetic shapes (numpy, Pillow, pycocotools) and
the mixin that lets a codebase's dataset generate them on first use."""
from .self_generating import SelfGeneratingDataset, is_self_generating, prepare_shapes
from .shapes import (SHAPES_CLASSES, SHAPES_PALETTE, SHAPES_SEG_CLASSES, SHAPES_SEG_PALETTE,
                     ensure_shapes, generate_shapes)

__all__ = [
    'SHAPES_CLASSES', 'SHAPES_PALETTE', 'SHAPES_SEG_CLASSES', 'SHAPES_SEG_PALETTE',
    'SelfGeneratingDataset', 'ensure_shapes', 'generate_shapes', 'is_self_generating',
    'prepare_shapes'
]
