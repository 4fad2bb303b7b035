"""Semantic-segmentation shapes dataset for mmseg that generates itself on first use."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from emo_mm.datasets import SHAPES_SEG_CLASSES, SHAPES_SEG_PALETTE, SelfGeneratingDataset


@DATASETS.register_module()
class ShapesSegDataset(SelfGeneratingDataset, BaseSegDataset):
    """:class:`BaseSegDataset` over ``emo_mm``'s synthetic shapes (semantic label maps);
    ``data_root`` and ``generator`` as in :class:`~emo_mm.datasets.SelfGeneratingDataset`.

    Images are ``<data_root>/<split>/images/<stem>.png`` and label maps
    ``<data_root>/<split>/semantic/<stem>.png`` with 0 = background and k = shape class
    k - 1, so background is a real class (``reduce_zero_label=False``).
    """

    METAINFO = dict(classes=SHAPES_SEG_CLASSES, palette=[list(c) for c in SHAPES_SEG_PALETTE])

    def __init__(self, *args, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        super().__init__(*args, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
