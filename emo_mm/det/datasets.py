"""COCO-format shapes dataset for mmdet that generates itself on first use."""
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from emo_mm.datasets import SHAPES_CLASSES, SHAPES_PALETTE, SelfGeneratingDataset


@DATASETS.register_module()
class ShapesDetDataset(SelfGeneratingDataset, CocoDataset):
    """:class:`CocoDataset` over ``emo_mm``'s synthetic shapes (boxes and instance masks);
    ``data_root`` and ``generator`` as in :class:`~emo_mm.datasets.SelfGeneratingDataset`."""

    METAINFO = dict(classes=SHAPES_CLASSES, palette=list(SHAPES_PALETTE))
