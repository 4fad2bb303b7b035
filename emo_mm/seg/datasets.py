"""Semantic-segmentation shapes dataset for mmseg that generates itself on first use."""
from typing import Optional

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from emo_mm.datasets.prepare import prepare_shapes
from emo_mm.datasets.shapes import SHAPES_SEG_CLASSES, SHAPES_SEG_PALETTE


@DATASETS.register_module()
class ShapesSegDataset(BaseSegDataset):
    """:class:`BaseSegDataset` over ``emo_mm``'s synthetic shapes (semantic label maps).

    Images are ``<data_root>/<split>/images/<stem>.png`` and label maps
    ``<data_root>/<split>/semantic/<stem>.png`` with 0 = background and k = shape class
    k - 1, so background is a real class (``reduce_zero_label=False``).

    Args:
        generator: arguments of :func:`emo_mm.datasets.ensure_shapes` (``num_train``,
            ``num_val``, ``img_size``, ``seed``); the data under ``data_root`` is
            (re)generated when it is missing or was made with other arguments.
    """

    METAINFO = dict(classes=SHAPES_SEG_CLASSES, palette=[list(c) for c in SHAPES_SEG_PALETTE])

    def __init__(self,
                 *args,
                 data_root: str = 'data/shapes',
                 generator: Optional[dict] = None,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 **kwargs) -> None:
        prepare_shapes(data_root, generator)
        super().__init__(*args, data_root=data_root, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)
