"""Datasets for emo_mm demos and tests (lightweight: numpy + Pillow only).

Names are resolved lazily (PEP 562) so that ``python -m emo_mm.datasets.shapes``
does not import the module twice.
"""
from typing import Any

__all__ = [
    'SHAPES_CLASSES', 'SHAPES_PALETTE', 'SHAPES_SEG_CLASSES', 'SHAPES_SEG_PALETTE',
    'ensure_shapes', 'generate_shapes'
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import shapes
        return getattr(shapes, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> list:
    return sorted(list(globals()) + __all__)
