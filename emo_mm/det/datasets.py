"""COCO-format shapes dataset for mmdet that generates itself on first use."""
from typing import Optional

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from emo_mm.datasets.prepare import prepare_shapes
from emo_mm.datasets.shapes import SHAPES_CLASSES, SHAPES_PALETTE


@DATASETS.register_module()
class ShapesDetDataset(CocoDataset):
    """:class:`CocoDataset` over ``emo_mm``'s synthetic shapes (boxes and instance masks).

    Args:
        generator: arguments of :func:`emo_mm.datasets.ensure_shapes` (``num_train``,
            ``num_val``, ``img_size``, ``seed``); the data under ``data_root`` is
            (re)generated when it is missing or was made with other arguments.
    """

    METAINFO = dict(classes=SHAPES_CLASSES, palette=list(SHAPES_PALETTE))

    def __init__(self, *args, data_root: str = 'data/shapes', generator: Optional[dict] = None,
                 **kwargs) -> None:
        prepare_shapes(data_root, generator)
        super().__init__(*args, data_root=data_root, **kwargs)
